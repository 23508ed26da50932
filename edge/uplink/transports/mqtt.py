"""The MQTT transport: records to the broker as QoS 1 PUBLISHes; a PUBACK (and its reason code) is the delivery.

The uplink ``Drainer`` calls ``poll`` from its thread; paho's ``loop()`` runs inside it and callbacks only append
to a deque. Every connection gets a fresh client, so paho's memory queue never outlives a connection: whatever was
in flight when a link died is still in the spool and is sent again on the next connection (``session`` changes).
We publish only while connected, at most ``min(max_inflight, Receive Maximum)`` messages in flight. A lost broker
is retried on ``edge.ops.backoff``'s schedule (a quick first retry after a session, no wait longer than
``reconnect_max_s``); one that refused the login or the TLS handshake is asked again after ``REFUSED_RETRY_S``.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.ops.backoff import Backoff
from edge.ops.budget import SpoolBytes, TokenBucket
from edge.secrets import read_secret
from edge.stages import Delivery, Health, Outgoing
from edge.types import Priority
from edge.uplink.conn import (
    TOPIC_AUDIT,
    TOPIC_COMMANDS,
    TOPIC_DETECTIONS,
    TOPIC_HEALTH,
    TOPIC_STATUS,
    TOPIC_THUMBNAIL,
    Login,
    explain_connack,
    explain_connect_error,
    explain_tls_refusal,
    make_client,
    parse_url,
    publish_size,
)
from edge.uplink.drainer import Drainer, DrainSettings
from edge.uplink.settings import MqttSettings
from edge.uplink.spool import Spool

log = logging.getLogger("edge.uplink.mqtt")

# PUBACK reason codes that will never succeed on a retry: the row goes to the dead-letter table.
PERMANENT = {
    0x87: "not authorized",
    0x90: "topic name invalid",
    0x95: "packet too large",
    0x99: "payload format invalid",
}
QUOTA_EXCEEDED = 0x97
INF = float("inf")
# Thumbnails and audit records leave this much of the byte bucket to new-track alerts (fractions of its depth).
IMAGE_RESERVES = {int(Priority.AUDIT): 0.25, int(Priority.IMAGE): 0.5}
# Shares of the bytes sent that health and audit records are owed while they wait: updates filling the budget must
# not starve the vehicle's health or the record of who asked for imagery (thumbnails: ``mqtt.image_share``).
RECORD_SHARES = {int(Priority.HEALTH): 0.05, int(Priority.AUDIT): 0.05}
REFUSED_RETRY_S = 30.0  # wait after the broker refused the login or the TLS handshake failed


def mqtt_uplink(
    settings: MqttSettings, spool: Spool, vehicle_id: str, on_command: Callable[[str, bytes], None] | None = None
) -> Drainer:
    """The MQTT uplink: a Drainer (a Stage named "mqtt") over an MqttTransport, with ``mqtt.bytes_per_s``;
    ``on_command``: takes the requests on ``edge/<vehicle>/cmd/#`` (topic, payload), called on the uplink's thread."""
    bucket = TokenBucket(settings.bytes_per_s, settings.bytes_per_s * settings.burst_s, time.monotonic())
    budget = SpoolBytes(bucket, IMAGE_RESERVES)
    shares = {**RECORD_SHARES, int(Priority.IMAGE): settings.image_share}
    drain = DrainSettings(
        ack_timeout_s=settings.ack_timeout_s, historical_after_s=settings.historical_after_s, shares=shares
    )
    transport = MqttTransport(settings, vehicle_id)
    transport.on_command = on_command
    return Drainer(spool, transport, budget, drain)


class MqttTransport:
    """A Transport: one broker connection at a time, reconnecting with backoff."""

    name = "mqtt"

    def __init__(self, settings: MqttSettings, vehicle_id: str) -> None:
        self.settings = settings
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
        special = {Priority.HEALTH: TOPIC_HEALTH, Priority.AUDIT: TOPIC_AUDIT, Priority.IMAGE: TOPIC_THUMBNAIL}
        self.topics = {p: special.get(p, TOPIC_DETECTIONS).format(vehicle=vehicle_id) for p in Priority}
        self.commands_topic = TOPIC_COMMANDS.format(vehicle=vehicle_id)
        # Requests to the vehicle (topic, payload), called from the drainer's thread; None: no subscription.
        self.on_command: Callable[[str, bytes], None] | None = None
        self.status_topic = TOPIC_STATUS.format(vehicle=vehicle_id)
        self.carries = dict.fromkeys((int(p) for p in Priority), INF)
        self.session = 0
        self._client: mqtt.Client | None = None
        self._connected = False
        self._deadline = 0.0  # CONNACK due by (monotonic)
        self._next_try = 0.0
        self._backoff = Backoff(settings.reconnect_min_s, settings.reconnect_max_s)
        self._tls_error = ""  # the last socket error paho logged (TLS alerts show up only there)
        self._events: deque[tuple[str, Any, Any]] = deque()  # (kind, a, b) from paho callbacks
        self._mids: dict[int, int] = {}  # mid -> row id
        self._frame: tuple[int, str, Properties | None, int] | None = None  # (row id, topic, props, size)
        self.state = "idle"
        self.stats = {"connects": 0, "quota_backoffs": 0}
        self.receive_max = 0
        self.last_error = ""
        self._connected_at = 0.0

    # -- Transport ----------------------------------------------------------------------------------------------
    def health(self) -> Health:
        return {
            "state": self.state,
            "broker": f"{self.broker.host}:{self.broker.port}",
            "connected_s": round(time.monotonic() - self._connected_at, 1) if self._connected else 0.0,
            "receive_max": self.receive_max,
            "last_error": self.last_error,
            **self.stats,
        }

    def window(self) -> int:
        return min(self.settings.max_inflight, self.receive_max) if self._connected else 0

    def destination(self, prio: int) -> str:
        return f"mqtt:{self.topics[Priority(prio)]}"

    def cost(self, rec: Outgoing) -> int:
        topic = self.topics[Priority(rec.prio)]
        props = None
        props_len = 0
        if self.v5:
            props = Properties(PacketTypes.PUBLISH)
            props.MessageExpiryInterval = max(1, int(rec.t_expire - time.time()))
            props_len = 5
            if rec.historical:
                props.UserProperty = ("historical", "1")
                props_len += 1 + 2 + 10 + 2 + 1
        size = publish_size(topic, len(rec.payload), props_len, self.v5)
        self._frame = (rec.row_id, topic, props, size)
        return size

    def send(self, rec: Outgoing) -> bool:
        client = self._client
        if client is None or not self._connected:
            return False
        if self._frame is None or self._frame[0] != rec.row_id:
            self.cost(rec)
        assert self._frame is not None
        _, topic, props, _ = self._frame
        info = client.publish(topic, rec.payload, qos=1, properties=props)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            return False  # the link is going down; the row stays in the spool for the next connection
        self._mids[info.mid] = rec.row_id
        return True

    def poll(self, timeout: float) -> list[Delivery]:
        now = time.monotonic()
        if self._client is None:
            if now < self._next_try:
                time.sleep(min(timeout, self._next_try - now))
                return []
            self._connect()
            return []
        out: list[Delivery] = []
        client = self._client
        rc = client.loop(timeout)
        while self._events:
            kind, a, b = self._events.popleft()
            if kind == "connack":
                if not self._on_connack(client, a, b):
                    self._drop(False, refused=True)
                    return out
            elif kind == "disconnect":
                refused = self.login.tls and not self._connected
                if refused:
                    self._error(explain_tls_refusal(self._tls_error, self.broker, self.login))
                else:
                    self._error(f"MQTT broker {self.broker.host}:{self.broker.port}: disconnected: {a}")
                self._drop(self._connected, refused)
                return out
            elif kind == "error" and "on socket" in str(a):
                self._tls_error = str(a).split("on socket: ", 1)[-1]
            elif kind == "puback":
                d = self._on_puback(int(a), b)
                if d is not None:
                    out.append(d)
            elif kind == "message" and self.on_command is not None:
                self.on_command(a, b)
        if rc != mqtt.MQTT_ERR_SUCCESS:
            refused = self.login.tls and not self._connected
            if refused:
                self._error(explain_tls_refusal(self._tls_error, self.broker, self.login))
            else:
                self._error(f"MQTT broker {self.broker.host}:{self.broker.port}: link lost ({mqtt.error_string(rc)})")
            self._drop(self._connected, refused)
        elif not self._connected and time.monotonic() > self._deadline:
            s = self.settings
            self._error(f"MQTT broker {self.broker.host}:{self.broker.port}: no CONNACK in {s.connect_timeout_s} s")
            self._drop(False)
        return out

    def close(self, timeout: float) -> None:
        """Clean shutdown: retained "offline" (the will is not sent on a clean disconnect), then DISCONNECT."""
        client = self._client
        if client is None:
            self.state = "stopped"
            return
        if self._connected:
            client.publish(self.status_topic, b"offline", qos=1, retain=True)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and client.want_write():
                client.loop(0.02)
            client.disconnect()  # written at once (no paho thread); paho closes the socket after it
        self._drop(False)
        self.state = "stopped"

    # -- connection ---------------------------------------------------------------------------------------------
    def _error(self, line: str) -> None:
        if line != self.last_error:
            log.error("%s", line)
        self.last_error = line

    def _connect(self) -> None:
        s = self.settings
        client = make_client(self.client_id, self.v5, self.login)
        client.max_inflight_messages_set(max(s.max_inflight, 1))
        client.max_queued_messages_set(0)
        client.enable_logger(logging.getLogger("edge.uplink.paho"))
        client.on_connect = lambda _c, _u, flags, rc, props: self._events.append(("connack", (flags, rc), props))
        client.on_disconnect = lambda _c, _u, _f, rc, _p: self._events.append(("disconnect", rc, None))
        client.on_publish = lambda _c, _u, mid, rc, _p: self._events.append(("puback", mid, rc))
        client.on_message = lambda _c, _u, msg: self._events.append(("message", msg.topic, bytes(msg.payload)))
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
        self._tls_error = ""
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
            self._client = client
            self._drop(False, refused=isinstance(err, ssl.SSLError | ValueError))
            return
        self._client = client
        self._deadline = time.monotonic() + s.connect_timeout_s

    def _drop(self, was_up: bool, refused: bool = False) -> None:
        """End this connection; the next try after the backoff (reset when the connection had been up), or after
        ``REFUSED_RETRY_S`` when the broker answered and refused us (login, TLS)."""
        client, self._client = self._client, None
        if client is not None:
            sock = client.socket()
            if sock is not None:
                sock.close()
        if self._connected:
            self.session += 1  # what was in flight is lost with the connection
        self._connected = False
        self._mids.clear()
        self.state = "backoff"
        if was_up:
            self._backoff.reset()
        self._next_try = time.monotonic() + (REFUSED_RETRY_S if refused else self._backoff.delay())

    def _on_connack(self, client: mqtt.Client, flags_rc: tuple[Any, Any], props: object) -> bool:
        flags, rc = flags_rc
        if rc.is_failure:
            self._error(explain_connack(rc, self.broker, self.login))
            return False
        self.receive_max = int(getattr(props, "ReceiveMaximum", 65535)) if self.v5 else 65535
        client.on_log = None  # socket errors matter only to explain a refused login; paho formats every packet for it
        self._connected = True
        self.session += 1
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
        if self.on_command is not None:
            client.subscribe(self.commands_topic, qos=1)
        return True

    def _on_puback(self, mid: int, rc: object) -> Delivery | None:
        row_id = self._mids.pop(mid, None)
        if row_id is None:  # the birth message
            return None
        code = int(getattr(rc, "value", 0))
        if code < 0x80:
            return Delivery(row_id)
        reason = f"{rc} (0x{code:02X})"
        if code == QUOTA_EXCEEDED:
            self.stats["quota_backoffs"] += 1
            log.warning("MQTT broker: quota exceeded; pausing %.0f s", self.settings.quota_backoff_s)
            return Delivery(row_id, ok=False, pause_s=self.settings.quota_backoff_s, counted=False, reason=reason)
        final = code in PERMANENT
        return Delivery(
            row_id, ok=False, final=final, pause_s=0 if final else self.settings.reconnect_min_s, reason=reason
        )
