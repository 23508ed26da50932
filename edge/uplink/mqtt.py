"""The MQTT uplink: drains the spool to the broker and deletes a row only when the broker acknowledged it.

One thread owns the paho client (``loop()`` is called from it; callbacks only append to a deque). Every
connection gets a fresh client, so paho's memory queue never outlives a connection: whatever was in flight when a
link died is still in the spool and is sent again on the next connection (at-least-once; receivers dedup by
vehicle, boot and sequence). We publish only while connected, at most ``min(max_inflight, Receive Maximum)``
messages in flight, each tracked by its mid until its PUBACK and reason code arrive.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import cbor2
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.secrets import read_secret
from edge.types import Priority
from edge.uplink import codec
from edge.uplink.budget import ByteBudget
from edge.uplink.conn import (
    TOPIC_DETECTIONS,
    TOPIC_HEALTH,
    TOPIC_STATUS,
    Login,
    explain_connack,
    explain_connect_error,
    explain_tls_refusal,
    make_client,
    parse_url,
    publish_size,
)
from edge.uplink.settings import MqttSettings
from edge.uplink.spool import Row, Spool

log = logging.getLogger("edge.uplink.mqtt")

# PUBACK reason codes that will never succeed on a retry: the row goes to the dead-letter table.
PERMANENT = {
    0x87: "not authorized",
    0x90: "topic name invalid",
    0x95: "packet too large",
    0x99: "payload format invalid",
}
QUOTA_EXCEEDED = 0x97
MAX_ATTEMPTS = 5  # other refusals (0x80 unspecified, 0x83 implementation specific, ...) before dead-lettering


@dataclass
class _InFlight:
    row_id: int
    topic: str
    t_sent: float


class MqttUplink:
    """A Stage: sends spooled records by priority within the byte budget; ``flush`` on shutdown."""

    name = "mqtt"

    def __init__(self, settings: MqttSettings, spool: Spool, vehicle_id: str, boot_id: int) -> None:
        self.settings = settings
        self.spool = spool
        self.vehicle_id = vehicle_id
        self.boot_id = boot_id
        self.broker = parse_url(settings.url)
        self.login = Login(
            tls=settings.tls or self.broker.tls,
            cafile=settings.cafile,
            certfile=settings.certfile,
            keyfile=settings.keyfile,
            insecure=settings.tls_insecure,
            username=settings.username,
            password=read_secret(settings.password_credential, "EDGE_MQTT_PASSWORD") if settings.username else None,
        )
        if settings.username and self.login.password is None:
            log.warning(
                "mqtt.username is set but no password was found (credential %s or $EDGE_MQTT_PASSWORD)",
                settings.password_credential,
            )
        self.v5 = settings.protocol == "5"
        self.client_id = settings.client_id or f"edge-{vehicle_id}"
        self.topics = {
            p: (TOPIC_HEALTH if p == Priority.HEALTH else TOPIC_DETECTIONS).format(vehicle=vehicle_id) for p in Priority
        }
        self.status_topic = TOPIC_STATUS.format(vehicle=vehicle_id)
        self.budget = ByteBudget(settings.bytes_per_s, settings.bytes_per_s * settings.burst_s, time.monotonic())
        self._events: deque[tuple[str, Any, Any]] = deque()  # (kind, a, b) from paho callbacks
        self._inflight: dict[int, _InFlight] = {}
        self._attempts: dict[int, int] = {}
        self._stop = threading.Event()
        self._draining = False
        self._thread: threading.Thread | None = None
        self.state = "idle"
        self.stats = {
            "sent": 0,
            "acked": 0,
            "dead_letter": 0,
            "refused": 0,
            "quota_backoffs": 0,
            "connects": 0,
            "max_inflight_seen": 0,
        }
        self.sent_bytes = 0
        self.receive_max = 0
        self.last_error = ""
        self._connected_at = 0.0
        self._pause_until = 0.0

    # -- Stage ------------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="mqtt-uplink", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.flush(1.0)

    def flush(self, timeout: float) -> None:
        """Send nothing new, give in-flight messages up to ``timeout`` s for their PUBACKs, then disconnect."""
        self._draining = True
        deadline = time.monotonic() + timeout
        while self._inflight and self.state == "connected" and time.monotonic() < deadline:
            time.sleep(0.02)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(max(0.5, deadline - time.monotonic() + 0.5))

    def health(self) -> dict[str, object]:
        return {
            "state": self.state,
            "broker": f"{self.broker.host}:{self.broker.port}",
            "connected_s": round(time.monotonic() - self._connected_at, 1) if self.state == "connected" else 0.0,
            "inflight": len(self._inflight),
            "receive_max": self.receive_max,
            "backlog_rows": self.spool.rows,
            "backlog_bytes": self.spool.bytes,
            "sent_bytes": self.sent_bytes,
            "last_error": self.last_error,
            **self.stats,
        }

    def publish_health(self, health: dict[str, object]) -> None:
        """Queue the newest health snapshot (CBOR map) on the health topic, lowest priority; older ones are dropped."""
        plain = json.loads(json.dumps(health, default=str))
        self.spool.replace_health(cbor2.dumps(plain))

    # -- the thread -------------------------------------------------------------------------------------------
    def _run(self) -> None:
        backoff = self.settings.reconnect_min_s
        while not self._stop.is_set():
            was_up = False
            try:
                was_up = self._session()
            except Exception as err:  # a bug or an odd paho error must not end the uplink
                log.exception("MQTT uplink: unexpected error")
                self.last_error = str(err)
            self._inflight.clear()
            if self._stop.is_set():
                break
            self.state = "backoff"
            if was_up:
                backoff = self.settings.reconnect_min_s
            self._stop.wait(backoff)
            backoff = min(backoff * 2, self.settings.reconnect_max_s)
        self.state = "stopped"

    def _error(self, line: str) -> None:
        if line != self.last_error:
            log.error("%s", line)
        self.last_error = line

    def _session(self) -> bool:
        """One connection from CONNECT to its end; True if it got connected at all."""
        s = self.settings
        client = make_client(self.client_id, self.v5, self.login)
        client.max_inflight_messages_set(max(s.max_inflight, 1))
        client.max_queued_messages_set(0)
        client.enable_logger(logging.getLogger("edge.uplink.paho"))
        client.on_connect = lambda _c, _u, flags, rc, props: self._events.append(("connack", (flags, rc), props))
        client.on_disconnect = lambda _c, _u, _f, rc, _p: self._events.append(("disconnect", rc, None))
        client.on_publish = lambda _c, _u, mid, rc, _p: self._events.append(("puback", mid, rc))
        client.on_log = lambda _c, _u, level, text: (
            self._events.append(("error", text, None)) if level == mqtt.MQTT_LOG_ERR else None
        )
        client.will_set(self.status_topic, b"offline", qos=1, retain=True)
        props = None
        if self.v5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = s.session_expiry_s
        self.state = "connecting"
        self._events.clear()
        client.connect_timeout = s.connect_timeout_s
        try:
            client.connect(
                self.broker.host,
                self.broker.port,
                keepalive=s.keepalive_s,
                clean_start=False if self.v5 else mqtt.MQTT_CLEAN_START_FIRST_ONLY,
                properties=props,
            )
        except (OSError, ValueError) as err:
            self._error(explain_connect_error(err, self.broker, self.login))
            return False
        deadline = time.monotonic() + s.connect_timeout_s
        connected = False
        tls_error = ""  # the last socket error paho logged (TLS alerts show up only there)
        try:
            while not self._stop.is_set():
                # Short waits while there is traffic; 0.1 s (the most an idle uplink delays a new record) otherwise.
                rc = client.loop(0.01 if self._inflight or self.spool.rows else 0.1)
                now = time.monotonic()
                acks: list[int] = []
                while self._events:
                    kind, a, b = self._events.popleft()
                    if kind == "connack":
                        connected = self._on_connack(client, a, b)
                        if not connected:
                            return False
                    elif kind == "disconnect":
                        if self.login.tls and not connected:
                            self._error(explain_tls_refusal(tls_error, self.broker, self.login))
                        else:
                            self._error(f"MQTT broker {self.broker.host}:{self.broker.port}: disconnected: {a}")
                        return connected
                    elif kind == "error" and "on socket" in str(a):
                        tls_error = str(a).split("on socket: ", 1)[-1]
                    elif kind == "puback":
                        self._on_puback(int(a), b, acks)
                if acks:
                    self.stats["acked"] += self.spool.ack(acks)
                if rc != mqtt.MQTT_ERR_SUCCESS and self.login.tls and not connected:
                    self._error(explain_tls_refusal(tls_error, self.broker, self.login))
                    return False
                if rc != mqtt.MQTT_ERR_SUCCESS:
                    self._error(
                        f"MQTT broker {self.broker.host}:{self.broker.port}: link lost ({mqtt.error_string(rc)})"
                    )
                    return connected
                if not connected:
                    if now > deadline:
                        self._error(
                            f"MQTT broker {self.broker.host}:{self.broker.port}: no CONNACK in {s.connect_timeout_s} s"
                        )
                        return False
                    continue
                self._expire_inflight(now)
                if not self._draining and now >= self._pause_until:
                    self._fill(client, now)
            if connected:
                self._say_goodbye(client)
            return connected
        finally:
            sock = client.socket()
            if sock is not None:
                sock.close()
            self.state = "disconnected"

    def _on_connack(self, client: mqtt.Client, flags_rc: tuple[Any, Any], props: object) -> bool:
        flags, rc = flags_rc
        if rc.is_failure:
            self._error(explain_connack(rc, self.broker, self.login))
            return False
        self.receive_max = int(getattr(props, "ReceiveMaximum", 65535)) if self.v5 else 65535
        self.state = "connected"
        self._connected_at = time.monotonic()
        self.stats["connects"] += 1
        self.last_error = ""
        log.info(
            "MQTT broker %s:%d: connected (session present: %s, receive maximum %d)",
            self.broker.host,
            self.broker.port,
            flags.session_present,
            self.receive_max,
        )
        client.publish(self.status_topic, b"online", qos=1, retain=True)
        self.budget.force(publish_size(self.status_topic, 6, 0, self.v5), time.monotonic())
        return True

    def _on_puback(self, mid: int, rc: object, acks: list[int]) -> None:
        fl = self._inflight.pop(mid, None)
        if fl is None:  # the birth message, or a message we already gave up waiting for
            return
        code = int(getattr(rc, "value", 0))
        if code < 0x80:
            acks.append(fl.row_id)
            self._attempts.pop(fl.row_id, None)
            return
        self.stats["refused"] += 1
        if code == QUOTA_EXCEEDED:
            self.stats["quota_backoffs"] += 1
            self._pause_until = time.monotonic() + self.settings.quota_backoff_s
            log.warning("MQTT broker: quota exceeded; pausing %.0f s", self.settings.quota_backoff_s)
            return
        attempts = self._attempts.get(fl.row_id, 0) + 1
        self._attempts[fl.row_id] = attempts
        if code in PERMANENT or attempts >= MAX_ATTEMPTS:
            self._attempts.pop(fl.row_id, None)
            self.spool.dead_letter(fl.row_id, fl.topic, code, str(rc))
            self.stats["dead_letter"] += 1
            log.error(
                "MQTT broker refused a message on %s: %s (0x%02X); moved to the dead-letter table", fl.topic, rc, code
            )
        else:
            self._pause_until = time.monotonic() + self.settings.reconnect_min_s

    def _expire_inflight(self, now: float) -> None:
        late = [mid for mid, fl in self._inflight.items() if now - fl.t_sent > self.settings.ack_timeout_s]
        for mid in late:  # sent again from the spool on the next fill; a late PUBACK for the old mid is ignored
            del self._inflight[mid]

    def _fill(self, client: mqtt.Client, now: float) -> None:
        window = min(self.settings.max_inflight, self.receive_max) - len(self._inflight)
        if window <= 0 or self.spool.rows <= len(self._inflight) or self.budget.wait_s(now) > 0:
            return
        busy = {fl.row_id for fl in self._inflight.values()}
        wall = time.time()
        for row in self.spool.head(window, busy):
            if row.t_expire <= wall:
                self.spool.purge_expired(wall)
                return
            if not self._send(client, row, now, wall):
                return

    def _send(self, client: mqtt.Client, row: Row, now: float, wall: float) -> bool:
        topic = self.topics[Priority(row.prio)]
        payload = row.payload
        historical = wall - row.t_created > self.settings.historical_after_s
        props = None
        props_len = 0
        if historical and row.prio != Priority.HEALTH:
            payload = codec.mark_historical(payload)
        if self.v5:
            props = Properties(PacketTypes.PUBLISH)
            props.MessageExpiryInterval = max(1, int(row.t_expire - wall))
            props_len = 5
            if historical:
                props.UserProperty = ("historical", "1")
                props_len += 1 + 2 + 10 + 2 + 1
        size = publish_size(topic, len(payload), props_len, self.v5)
        if not self.budget.try_take(size, now):
            return False
        info = client.publish(topic, payload, qos=1, properties=props)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            return False  # the link is going down; the row stays in the spool for the next connection
        self._inflight[info.mid] = _InFlight(row.id, topic, now)
        self.stats["sent"] += 1
        self.stats["max_inflight_seen"] = max(self.stats["max_inflight_seen"], len(self._inflight))
        self.sent_bytes += size
        return True

    def _say_goodbye(self, client: mqtt.Client) -> None:
        """Clean shutdown: retained "offline" (the will is not sent on a clean disconnect), then DISCONNECT."""
        client.publish(self.status_topic, b"offline", qos=1, retain=True)
        deadline = time.monotonic() + 0.3
        while time.monotonic() < deadline and client.want_write():
            client.loop(0.02)
        client.disconnect()  # written at once (no paho thread); paho closes the socket after it
