"""What the sender and the receiver share about reaching a broker: URL parsing, TLS, login, clear error lines."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

TOPIC_DETECTIONS = "edge/{vehicle}/detections"
TOPIC_STATUS = "edge/{vehicle}/status"
TOPIC_HEALTH = "edge/{vehicle}/health"


@dataclass(frozen=True, slots=True)
class Broker:
    """host, port and whether the URL asked for TLS (mqtts://)."""

    host: str
    port: int
    tls: bool


def parse_url(url: str) -> Broker:
    """``mqtt://HOST[:PORT]`` (default 1883) or ``mqtts://HOST[:PORT]`` (default 8883); ValueError otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ValueError(f"broker URL must look like mqtt://HOST:PORT or mqtts://HOST:PORT, not {url!r}")
    tls = parts.scheme == "mqtts"
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError:
        raise ValueError(f"broker URL {url!r} has a bad port") from None
    return Broker(parts.hostname, port, tls)


@dataclass(frozen=True, slots=True)
class Login:
    """How to authenticate: TLS files (empty: system CAs / no client cert), user name and password."""

    tls: bool = False
    cafile: str = ""
    certfile: str = ""
    keyfile: str = ""
    insecure: bool = False
    username: str = ""
    password: str | None = None


def make_client(client_id: str, v5: bool, login: Login) -> mqtt.Client:
    """A paho client (callback API v2) set up for TLS with server verification and login; not connected."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
        clean_session=None if v5 else False,
    )
    if login.tls:
        client.tls_set(
            ca_certs=login.cafile or None,
            certfile=login.certfile or None,
            keyfile=login.keyfile or None,
            cert_reqs=ssl.CERT_REQUIRED,
        )
        client.tls_insecure_set(login.insecure)
    if login.username:
        client.username_pw_set(login.username, login.password)
    return client


def explain_connect_error(err: BaseException, broker: Broker, login: Login) -> str:
    """One log line that says what failed while opening the connection and what to check."""
    where = f"MQTT broker {broker.host}:{broker.port}"
    if isinstance(err, ssl.SSLCertVerificationError):
        ca = login.cafile or "the system CA store"
        return f"{where}: TLS server certificate not trusted ({err.verify_message}); check mqtt.cafile ({ca})"
    if isinstance(err, ssl.SSLError):
        return f"{where}: TLS handshake failed ({err.reason or err}); check the client certificate/key and TLS settings"
    if isinstance(err, ConnectionRefusedError):
        return f"{where}: connection refused (is the broker running on that port?)"
    if isinstance(err, TimeoutError | ssl.SSLZeroReturnError):
        return f"{where}: no answer (timeout)"
    return f"{where}: cannot connect: {err}"


def explain_connack(reason: object, broker: Broker, login: Login) -> str:
    """One log line for a CONNACK that refused us."""
    where = f"MQTT broker {broker.host}:{broker.port}"
    text = str(reason)
    code = getattr(reason, "value", reason)
    if code in (0x86, 0x87, 0x8C, 4, 5):  # bad user name or password / not authorized / bad auth method
        if login.username:
            return f"{where} refused the login: {text}; check mqtt.username ({login.username}) and the password"
        return (
            f"{where} refused the connection: {text}; the broker wants a login (mqtt.username) or a client certificate"
        )
    return f"{where} refused the connection: {text}"


def publish_size(topic: str, payload_len: int, props_len: int, v5: bool) -> int:
    """Bytes on the wire of a QoS 1 PUBLISH: fixed header, topic, packet id, properties, payload."""
    body = 2 + len(topic.encode()) + 2 + payload_len
    if v5:
        body += _varint_len(props_len) + props_len
    return 1 + _varint_len(body) + body


def _varint_len(n: int) -> int:
    return 1 if n < 128 else 2 if n < 16384 else 3 if n < 2097152 else 4
