"""``edge listen``: the ground-side receiver. Subscribes with a persistent session, decodes, drops duplicates.

With ``--mavlink udp:HOST:PORT`` it also (or only) takes records off the telemetry radio through a MAVLink forward
and acks them there; duplicates are dropped across both paths by (vehicle, boot, seq). ``--republish mqtt://...``
publishes what came by radio (first copies only) into the coordination centre's broker.

Prints one line per detection (json), per record (geojson FeatureCollection) or per located detection (cot) on
stdout, flushed per line. Duplicates (same vehicle, boot, seq) are dropped and counted; gaps in the sequence
numbers are reported on stderr. A message is acknowledged to the broker only after its lines were written, so
nothing is lost if the receiver dies; its dedup memory is per process (a restarted receiver may print a
record again). Password: $CREDENTIALS_DIRECTORY/mqtt-password or $EDGE_MQTT_PASSWORD.
"""

from __future__ import annotations

import argparse
import logging
import queue
import signal
import socket
import ssl
import sys
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.ops.backoff import Backoff
from edge.secrets import read_secret
from edge.thumbs.receive import ImageWriter
from edge.types import SensorInfo
from edge.uplink.codec import CodecError, decode
from edge.uplink.conn import (
    TOPIC_DETECTIONS,
    Broker,
    Login,
    explain_connack,
    explain_connect_error,
    make_client,
    parse_url,
)
from edge.uplink.formats import DEFAULT_LABELS, FORMATTERS, SeqSet, detection_objects
from edge.uplink.listen_radio import RadioGround, RadioRecord

log = logging.getLogger("edge.listen")
RECONNECT_MIN_S, RECONNECT_MAX_S = 0.5, 1.0  # a broker's return is noticed within about a second


class Receiver:
    """Decode + dedup + format; ``handle`` returns the lines to print for one message."""

    def __init__(self, fmt: str, labels: tuple[str, ...] = DEFAULT_LABELS) -> None:
        self.format = FORMATTERS[fmt]
        self.fmt = fmt
        self.labels = labels  # for records that name no sensor description (v1) or one not received yet
        self.sensors: dict[tuple[str, int], SensorInfo] = {}  # (vehicle, key) -> description
        self.seen: dict[tuple[str, int], SeqSet] = {}
        self.records = self.duplicates = self.detections = self.bad = self.historical = self.unplaced = 0
        self.by_radio: set[tuple[str, int, int]] = set()  # (vehicle, boot, seq) whose first copy came by radio
        self.cross_path = 0  # duplicates whose first copy came the other way (radio vs MQTT)

    def handle(self, topic: str, payload: bytes) -> list[str]:
        parts = topic.split("/")
        if len(parts) != 3 or parts[0] != "edge":
            return []
        vehicle, kind = parts[1], parts[2]
        if kind == "status":
            log.warning("vehicle %s is %s", vehicle, payload.decode(errors="replace"))
            return []
        if kind != "detections":
            return []
        return self.record(vehicle, payload) or []

    def record(self, vehicle: str, payload: bytes, radio: bool = False) -> list[str] | None:
        """The lines of one record from ``vehicle`` (by MQTT, or by ``radio``); None when undecodable or a duplicate."""
        try:
            rec = decode(payload)
        except CodecError as err:
            self.bad += 1
            log.warning("undecodable record from %s: %s", vehicle, err)
            return None
        seqs = self.seen.setdefault((vehicle, rec.boot), SeqSet())
        key = (vehicle, rec.boot, rec.seq)
        if not seqs.add(rec.seq):
            self.duplicates += 1
            self.cross_path += radio != (key in self.by_radio)
            return None
        if radio:
            self.by_radio.add(key)
        self.records += 1
        self.historical += rec.historical
        if rec.description is not None:
            d = rec.description
            if self.sensors.get((vehicle, d.key)) != d:
                log.info(
                    "vehicle %s camera %s: model %s, %d classes, %dx%d px",
                    vehicle,
                    d.camera_id,
                    d.model,
                    len(d.labels),
                    *d.frame_wh,
                )
            self.sensors[(vehicle, d.key)] = d
            return []
        sensor = self.sensors.get((vehicle, rec.sensor)) if rec.sensor is not None else None
        if rec.sensor is not None and sensor is None:
            log.warning(
                "vehicle %s: record %d names sensor description %d, not received yet: class names from --labels",
                vehicle,
                rec.seq,
                rec.sensor,
            )
        objs = detection_objects(vehicle, rec, self.labels, sensor)
        self.detections += len(objs)
        if self.fmt == "cot":
            unplaced = sum(o["lat"] is None for o in objs)
            if unplaced and not self.unplaced:
                log.warning(
                    "CoT: detections without a position (the vehicle had no pose) are left out; counted in the summary"
                )
            self.unplaced += unplaced
        return self.format(objs)

    def summary(self) -> str:
        missing = [(k, *s.missing()) for k, s in self.seen.items()]
        gaps = "; ".join(f"{v} boot {b:08x}: {m} missing in {g} gaps" for (v, b), m, g in missing if m)
        return (
            f"listen: {self.detections} detections in {self.records} records; {self.duplicates} duplicates dropped "
            f"({self.cross_path} across radio and MQTT); "
            f"{self.historical} historical; {self.bad} undecodable; "
            + (f"{self.unplaced} without a position left out of CoT; " if self.unplaced else "")
            + (f"gaps: {gaps}" if gaps else "no gaps")
        )


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="edge listen", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--broker", default="", help="mqtt://HOST:PORT or mqtts://HOST:PORT")
    p.add_argument(
        "--mavlink", default="", help="udp:HOST:PORT: also take records off the telemetry radio (a MAVLink forward)"
    )
    p.add_argument(
        "--republish", default="", help="mqtt://HOST:PORT: publish records that came by radio into this broker"
    )
    p.add_argument("--format", choices=sorted(FORMATTERS), default="json")
    p.add_argument("--vehicle", default="+", help="vehicle id, or + for all (default)")
    p.add_argument(
        "--client-id", default=f"edge-listen-{socket.gethostname()}", help="stable id for the persistent session"
    )
    p.add_argument(
        "--session-expiry", type=int, default=86400, help="seconds the broker keeps our session (default 1 day)"
    )
    p.add_argument("--count", type=int, default=0, help="exit after N detections (0: run until interrupted)")
    p.add_argument(
        "--timeout", type=float, default=0.0, help="exit after S seconds (exit code 1 if --count was not reached)"
    )
    p.add_argument("--tls", action="store_true", help="TLS (implied by mqtts://); the server certificate is verified")
    p.add_argument("--cafile", default="", help="CA bundle (PEM) for the server certificate")
    p.add_argument("--cert", default="", help="client certificate (PEM) for mutual TLS")
    p.add_argument("--key", default="", help="client key (PEM)")
    p.add_argument("--insecure", action="store_true", help="do not check the server certificate's host name")
    p.add_argument("--username", default="", help="login name; password from $EDGE_MQTT_PASSWORD or the credential")
    p.add_argument("--mqtt311", action="store_true", help="MQTT 3.1.1 instead of 5")
    p.add_argument(
        "--labels",
        default=",".join(DEFAULT_LABELS),
        help="class names by id, comma-separated, for records whose vehicle sent no description of its model "
        "(older senders); records normally carry it",
    )
    p.add_argument("--images", default="", help="write thumbnails the vehicles send (on request) into this folder")
    p.add_argument("--report-s", type=float, default=10.0, help="print counters on stderr every S s (0: only at exit)")
    return p


def _republisher(url: str, client_id: str) -> mqtt.Client:
    """A client (own network thread) that publishes records taken off the radio into the broker at ``url``."""
    broker = parse_url(url)
    client = make_client(client_id + "-republish", True, Login(tls=broker.tls))
    client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)  # type: ignore[arg-type]
    client.connect_async(broker.host, broker.port, keepalive=15)
    client.loop_start()
    return client


def _radio_reader(ground: RadioGround, inbox: queue.SimpleQueue[tuple[str, Any]], stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            for rec in ground.read(0.2):
                inbox.put(("radio", rec))
        except OSError as err:
            if not stop.is_set():
                log.error("--mavlink %s:%d: %s", ground.host, ground.port, err)
            return


def _connect_mqtt(client: mqtt.Client, broker: Broker, login: Login, ns: argparse.Namespace, start: float) -> bool:
    """The first connection: retry while the broker is not there; a TLS problem is final. False: give up."""
    props = None
    v5 = not ns.mqtt311
    if v5:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = ns.session_expiry
    backoff = Backoff(RECONNECT_MIN_S, RECONNECT_MAX_S)
    while True:
        try:
            client.connect(
                broker.host,
                broker.port,
                keepalive=15,
                clean_start=False if v5 else mqtt.MQTT_CLEAN_START_FIRST_ONLY,
                properties=props,
            )
            return True
        except (OSError, ValueError) as err:
            log.error("%s", explain_connect_error(err, broker, login))
            if isinstance(err, ssl.SSLError | ValueError) or (ns.timeout and time.monotonic() - start >= ns.timeout):
                return False
            time.sleep(backoff.delay())


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _stop_on_signals() -> None:
    """Ctrl-C and SIGTERM (a service manager's stop) end the loop the same way, with the summary, even where the
    shell that started us set SIGINT to be ignored (a job started with ``&`` in a script); main thread only."""
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, _interrupt)


def main(argv: list[str]) -> int:
    ns = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if not ns.broker and not ns.mavlink:
        log.error("edge listen: give --broker mqtt://HOST:PORT, --mavlink udp:HOST:PORT, or both")
        return 2
    try:
        broker = parse_url(ns.broker) if ns.broker else None
        ground = RadioGround(ns.mavlink) if ns.mavlink else None
        republish = _republisher(ns.republish, ns.client_id) if ns.republish else None
    except ValueError as err:
        log.error("%s", err)
        return 2
    except OSError as err:
        log.error("--mavlink %s: cannot listen: %s", ns.mavlink, err.strerror)
        return 2
    receiver = Receiver(ns.format, tuple(ns.labels.split(",")))
    images = ImageWriter(Path(ns.images)) if ns.images else None
    inbox: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
    start = time.monotonic()
    client = None
    stop = threading.Event()
    _stop_on_signals()
    if broker is not None:
        login = Login(
            tls=ns.tls or broker.tls,
            cafile=ns.cafile,
            certfile=ns.cert,
            keyfile=ns.key,
            insecure=ns.insecure,
            username=ns.username,
            password=read_secret("mqtt-password", "EDGE_MQTT_PASSWORD") if ns.username else None,
        )
        client = make_client(ns.client_id, not ns.mqtt311, login)
        client.manual_ack_set(True)
        topics = [(f"edge/{ns.vehicle}/detections", 1), (f"edge/{ns.vehicle}/status", 1)]
        if ns.images:
            topics.append((f"edge/{ns.vehicle}/thumbnail", 1))

        def on_connect(c: mqtt.Client, _u: object, flags: object, rc: object, _p: object) -> None:
            inbox.put(("connack", rc))
            if not getattr(rc, "is_failure", False):
                c.subscribe(topics)

        client.on_connect = on_connect
        client.on_message = lambda _c, _u, msg: inbox.put(("msg", msg))
        client.on_disconnect = lambda _c, _u, _f, rc, _p: inbox.put(("disconnect", rc))
        # paho's own thread reconnects after a lost link, on the same bounds (without jitter)
        client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)  # type: ignore[arg-type]
        try:
            connected = _connect_mqtt(client, broker, login, ns, start)
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM while the broker was still out of reach
            print(receiver.summary(), file=sys.stderr, flush=True)
            return 0
        if not connected:
            return 1
        client.loop_start()
    if ground is not None:
        threading.Thread(target=_radio_reader, args=(ground, inbox, stop), name="radio", daemon=True).start()
        log.info("listening for the telemetry radio on udp %s:%d", ground.host, ground.port)
    last_report = time.monotonic()
    code = 0
    try:
        while True:
            now = time.monotonic()
            if ns.timeout and now - start >= ns.timeout:
                code = 1 if ns.count else 0
                break
            if ns.report_s and now - last_report >= ns.report_s:
                print(receiver.summary(), file=sys.stderr, flush=True)
                last_report = now
            try:
                kind, item = inbox.get(timeout=0.2)
            except queue.Empty:
                continue
            if kind == "connack" and broker is not None:
                if getattr(item, "is_failure", False):
                    log.error("%s", explain_connack(item, broker, login))
                    code = 1
                    break
                log.info("connected to %s:%d", broker.host, broker.port)
            elif kind == "disconnect":
                log.warning("disconnected (%s); reconnecting", item)
            elif kind == "radio":
                rec: RadioRecord = item
                lines = receiver.record(rec.vehicle, rec.payload, radio=True)
                for line in lines or []:
                    sys.stdout.write(line + "\n")
                sys.stdout.flush()
                if lines is not None and republish is not None:
                    republish.publish(TOPIC_DETECTIONS.format(vehicle=rec.vehicle), rec.payload, qos=1)
                assert ground is not None
                ground.ack(rec)  # after its lines were written: nothing is lost if we die before
            else:
                msg: mqtt.MQTTMessage = item
                if images is not None and msg.topic.endswith("/thumbnail"):
                    images.take(msg.topic, bytes(msg.payload))
                for line in receiver.handle(msg.topic, bytes(msg.payload)):
                    sys.stdout.write(line + "\n")
                sys.stdout.flush()
                assert client is not None
                client.ack(msg.mid, msg.qos)
            if ns.count and receiver.detections >= ns.count:
                break
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        for c in (client, republish):
            if c is not None:
                c.disconnect()
                c.loop_stop()
        if ground is not None:
            print(f"listen: radio {ground.stats}", file=sys.stderr, flush=True)
            ground.close()
        print(receiver.summary(), file=sys.stderr, flush=True)
        if images is not None:
            print(f"listen: {images.summary()}", file=sys.stderr, flush=True)
    return code
