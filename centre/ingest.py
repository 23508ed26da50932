"""``edge-centre ingest``: one ingest worker. Several share the fleet's stream through an MQTT shared subscription.

Exactly once: a persistent MQTT v5 session (clean_start False, session expiry) and manual acknowledgement. Messages
are taken in batches, decoded, written in ONE transaction with ``INSERT ... ON CONFLICT DO NOTHING`` on the unique
key (vehicle, boot, seq, idx), and only after the commit are their PUBACKs sent. A worker killed before the commit
leaves its messages unacknowledged: the broker sends them again (to the restarted session). A worker killed after
the commit but before the PUBACKs gets them again too, and the unique key drops them. Undecodable payloads are
logged, counted and acknowledged (sending them again would not help); so is a message the database refuses twice
while it answers (a poison message must not hold the stream up), after the rest of its batch is stored.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import queue
import time
from dataclasses import dataclass
from typing import Any

import cbor2
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from centre.config import CentreConfig
from centre.store import Store, StoreError, open_store
from centre.store.rows import to_rows
from centre.thumbnails import plain
from edge.secrets import read_secret
from edge.uplink.codec import CodecError, Record, decode
from edge.uplink.conn import Login, explain_connack, explain_connect_error, make_client, parse_url

log = logging.getLogger("centre.ingest")
INT64 = 2**63  # the database's bigint; an integer outside +-INT64 (or INT32 for a class or chunk) is not a record


def _text(value: object, limit: int = 256) -> str:
    """``value`` as text the database takes (PostgreSQL refuses NUL characters), at most ``limit`` characters."""
    return str(value)[:limit].replace("\x00", "\ufffd")


def _storable(rec: Record) -> Record:
    """``rec`` if every field fits the database's columns; CodecError naming the field otherwise."""
    if not (0 <= rec.boot < INT64 and 0 <= rec.seq < INT64 and math.isfinite(rec.t_utc)):
        raise CodecError(f"boot {rec.boot}, seq {rec.seq} or time {rec.t_utc} out of range")
    if "\x00" in rec.camera:
        raise CodecError("camera name with a NUL character")
    for d in rec.detections:
        if not (isinstance(d.track_id, int) and -INT64 <= d.track_id < INT64 and 0 <= d.class_id < 2**31):
            raise CodecError(f"detection with track {d.track_id!r} or class {d.class_id!r} out of range")
    return rec


@dataclass
class Counters:
    """What one worker did since it started."""

    records: int = 0
    detections: int = 0
    bad: int = 0
    batches: int = 0


def topics(group: str) -> list[tuple[str, int]]:
    """Shared subscriptions for detections, status, health, thumbnails sent on request and the vehicles' audit."""
    return [(f"$share/{group}/edge/+/{kind}", 1) for kind in ("detections", "status", "health", "thumbnail", "audit")]


class Ingest:
    """Decode a batch of messages into rows and write them. Pure of MQTT, so it is tested without a broker."""

    def __init__(self, store: Store, labels: tuple[str, ...]) -> None:
        self.store = store
        self.labels = labels
        self.counters = Counters()

    def handle(self, msgs: list[tuple[str, bytes]]) -> None:
        """Store the detections records among ``msgs`` (topic, payload); returns after the commit."""
        batch: list[tuple[str, Record]] = []
        states = False
        now = time.time()
        for topic, payload in msgs:
            parts = topic.split("/")
            if len(parts) != 3 or parts[0] != "edge":
                continue
            vehicle, kind = parts[1], parts[2]
            if kind == "status":
                state = _text(payload.decode(errors="replace"), 32)
                log.info("vehicle %s is %s", vehicle, state)
                self.store.put_state(vehicle, now, status=state)
                states = True
                continue
            if kind == "health":
                try:
                    health = json.dumps(cbor2.loads(payload), default=str)
                except Exception as err:  # cbor2 raises several types for garbage
                    self.counters.bad += 1
                    log.warning("undecodable health from %s: %s", vehicle, err)
                    continue
                self.store.put_state(vehicle, now, health=health)
                states = True
                continue
            if kind in ("thumbnail", "audit"):
                states = self._thumbnail(vehicle, kind, payload, now) or states
                continue
            if kind != "detections":
                continue
            try:
                batch.append((vehicle, _storable(decode(payload))))
            except CodecError as err:
                self.counters.bad += 1
                log.warning("undecodable record from %s: %s", vehicle, err)
        if batch or states:
            recs, dets = to_rows(batch, self.labels)
            self.store.write(recs, dets)  # one transaction with the states above
            self.counters.records += len(recs)
            self.counters.detections += len(dets)
            self.counters.batches += 1

    def _thumbnail(self, vehicle: str, kind: str, payload: bytes, now: float) -> bool:
        """Keep a thumbnail answer or chunk (put together when read), or a vehicle's audit record in the audit log."""
        try:
            msg = cbor2.loads(payload)
            if not isinstance(msg, dict) or msg.get("t") not in ("answer", "chunk", "audit"):
                raise ValueError("not a thumbnail answer, chunk or audit record")
        except Exception as err:  # cbor2 raises several types for garbage
            self.counters.bad += 1
            log.warning("undecodable %s message from %s: %s", kind, vehicle, err)
            return False
        requester = _text(msg.get("requester", ""))
        if msg["t"] == "audit":
            t = msg.get("t_utc")
            t_utc = float(t) if isinstance(t, (int, float)) and math.isfinite(t) and abs(t) < 1e12 else now
            action = _text(f"vehicle thumbnail request: {msg.get('status')}")
            detail = plain(msg)  # text keys (so that they sort), no bytes or NaN
            self.store.put_vehicle_audit(t_utc, f"{_text(vehicle)}:{requester}", action, detail)
            return True
        n = -1 if msg["t"] == "answer" else msg.get("n")
        if type(n) is not int or not -1 <= n < 2**31:
            self.counters.bad += 1
            log.warning("thumbnail chunk from %s with a bad number %r", vehicle, n)
            return False
        self.store.put_thumbnail_part(vehicle, requester, _text(msg.get("id", "")), n, now, payload)
        return True


def _open(url: str) -> Store:
    """Open the store, waiting for the database to come up (it may start after us)."""
    backoff = 0.5
    while True:
        try:
            return open_store(url)
        except StoreError as err:  # the database is not there yet
            log.error("%s; retrying in %.0f s", err, backoff)
            time.sleep(backoff)
            backoff = min(backoff * 2, 10.0)


def _store_batch(ingest: Ingest, url: str, msgs: list[tuple[str, bytes]]) -> None:
    """Write one batch, reconnecting and retrying until the database takes it; nothing is acknowledged before.
    A batch that fails twice, each time on a connection just opened, is written message by message, and a message
    that fails so alone is dropped and counted (the database answers, so it is the message)."""
    backoff = 0.5
    for attempt in range(1, 1_000_000_000):
        try:
            ingest.handle(msgs)
            return
        except Exception as err:  # the database went away (or refused the batch): keep the batch, reconnect
            log.error("database write failed: %s; retrying in %.0f s", err, backoff)
            with contextlib.suppress(Exception):  # already broken
                ingest.store.close()
            time.sleep(backoff)
            backoff = min(backoff * 2, 10.0)
            ingest.store = _open(url)
            if attempt < 2:
                continue
            if len(msgs) > 1:
                for m in msgs:
                    _store_batch(ingest, url, [m])
                return
            ingest.counters.bad += 1
            log.error("dropping a message on %s that the database refuses: %s", msgs[0][0], err)
            return


def run_worker(cfg: CentreConfig, stop_after_s: float = 0.0) -> int:
    """Connect, subscribe, store and acknowledge until interrupted (or ``stop_after_s``). Returns the exit code."""
    broker = parse_url(cfg.mqtt.url)
    login = Login(
        tls=broker.tls,
        cafile=cfg.mqtt.cafile,
        username=cfg.mqtt.username,
        password=read_secret("mqtt-password", "EDGE_CENTRE_MQTT_PASSWORD") if cfg.mqtt.username else None,
    )
    store = _open(cfg.store.url)
    ingest = Ingest(store, tuple(cfg.labels))
    inbox: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
    client = make_client(cfg.mqtt.client_id, True, login)
    client.manual_ack_set(True)
    subs = topics(cfg.mqtt.group)

    def on_connect(c: mqtt.Client, _u: object, _f: object, rc: Any, _p: object) -> None:
        inbox.put(("connack", rc))
        if not rc.is_failure:
            c.subscribe(subs)

    client.on_connect = on_connect
    client.on_message = lambda _c, _u, msg: inbox.put(("msg", msg))
    client.on_subscribe = lambda _c, _u, _mid, rcs, _p: inbox.put(("suback", rcs))
    client.on_disconnect = lambda _c, _u, _f, rc, _p: inbox.put(("disconnect", rc))
    client.reconnect_delay_set(1, 10)
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = cfg.mqtt.session_expiry_s
    props.ReceiveMaximum = cfg.mqtt.receive_maximum
    backoff = 0.5
    while True:
        try:
            client.connect(broker.host, broker.port, keepalive=15, clean_start=False, properties=props)
            break
        except (OSError, ValueError) as err:
            log.error("%s", explain_connect_error(err, broker, login))
            time.sleep(backoff)
            backoff = min(backoff * 2, 10.0)
    client.loop_start()
    start = time.monotonic()
    code = 0
    try:
        while not stop_after_s or time.monotonic() - start < stop_after_s:
            try:
                kind, item = inbox.get(timeout=0.2)
            except queue.Empty:
                continue
            if kind == "connack":
                if item.is_failure:
                    log.error("%s", explain_connack(item, broker, login))
                    code = 1
                    break
                log.info("connected to %s:%d as %s", broker.host, broker.port, cfg.mqtt.client_id)
                continue
            if kind == "suback":
                log.info("subscribed to %s: %s", ", ".join(t for t, _ in subs), ", ".join(str(r) for r in item))
                continue
            if kind == "disconnect":
                log.warning("disconnected (%s); reconnecting", item)
                continue
            msgs: list[mqtt.MQTTMessage] = [item]
            while len(msgs) < cfg.mqtt.batch_max:
                try:
                    kind, item = inbox.get_nowait()
                except queue.Empty:
                    break
                if kind == "msg":
                    msgs.append(item)
                else:
                    inbox.put((kind, item))  # handled next round; order against messages does not matter
                    break
            _store_batch(ingest, cfg.store.url, [(m.topic, bytes(m.payload)) for m in msgs])  # committed here ...
            for m in msgs:  # ... and only then acknowledged
                client.ack(m.mid, m.qos)
    except KeyboardInterrupt:
        pass
    finally:
        client.disconnect()
        client.loop_stop()
        ingest.store.close()
        c = ingest.counters
        log.info(
            "ingest: %d records, %d detections in %d batches; %d undecodable", c.records, c.detections, c.batches, c.bad
        )
    return code
