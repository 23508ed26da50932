"""What the sender and the receiver share about reaching a broker: URL parsing, TLS, login, clear error lines."""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

TOPIC_DETECTIONS = "edge/{vehicle}/detections"
TOPIC_STATUS = "edge/{vehicle}/status"
TOPIC_HEALTH = "edge/{vehicle}/health"
TOPIC_AUDIT = "edge/{vehicle}/audit"  # who asked for imagery, what was sent (edge.thumbs)
TOPIC_THUMBNAIL = "edge/{vehicle}/thumbnail"  # answers to thumbnail requests and image chunks (edge.thumbs)
TOPIC_COMMANDS = "edge/{vehicle}/cmd/#"  # requests to the vehicle, e.g. cmd/thumbnail/<user> (edge.thumbs)


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


# What a TLS alert from the broker means for us (OpenSSL's alert text -> what to check).
_ALERT_HINTS = {
    "certificate required": "the broker requires a client certificate: set mqtt.certfile and mqtt.keyfile",
    "unknown ca": "the broker does not trust the CA that signed our certificate",
    "bad certificate": "the broker rejected our certificate: check mqtt.certfile and mqtt.keyfile",
    "certificate unknown": "the broker rejected our certificate: check mqtt.certfile and mqtt.keyfile",
    "unsupported certificate": "the broker rejected our certificate's type or key usage",
    "certificate expired": "our certificate has expired: renew mqtt.certfile",
    "certificate revoked": "our certificate was revoked",
    "access denied": "the broker refused our certificate's identity",
    "handshake failure": "no TLS version or cipher both sides accept",
    "protocol version": "no TLS version both sides accept",
    "insufficient security": "no cipher both sides accept",
}
_ALERT = re.compile(r"(?:tlsv1\d?|sslv3) alert ([a-z]+(?: [a-z]+)*)", re.IGNORECASE)


def _our_cert(login: Login) -> str:
    return f"our client certificate ({login.certfile})" if login.certfile else "us (no client certificate set)"


def explain_tls_refusal(detail: str, broker: Broker, login: Login) -> str:
    """One log line for a TLS connection that ended before the broker's CONNACK: which side refused and why.

    ``detail`` is the TLS layer's last error text (e.g. "[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] tlsv13 alert
    certificate required"). A broker that sends an alert tells why; Mosquitto (OpenSSL) sends none and closes the
    connection after the handshake, so the client only sees an EOF.
    """
    where = f"MQTT broker {broker.host}:{broker.port}"
    alert = _ALERT.search(detail)
    if alert:
        reason = alert.group(0).lower()
        hint = _ALERT_HINTS.get(alert.group(1).lower(), "see the broker's log")
        return f"{where} refused {_our_cert(login)} in the TLS handshake ({reason}): {hint}"
    why = detail or "connection closed"
    hint = "set mqtt.certfile and mqtt.keyfile if it requires one" if not login.certfile else "check it is valid and "
    if login.certfile:
        hint += "signed by a CA the broker trusts"
    return (
        f"{where} closed the TLS connection before answering CONNECT ({why}): the broker most likely refused "
        f"{_our_cert(login)}; {hint} (the broker's log says why)"
    )


def explain_connect_error(err: BaseException, broker: Broker, login: Login) -> str:
    """One log line that says what failed while opening the connection, which side refused, and what to check."""
    where = f"MQTT broker {broker.host}:{broker.port}"
    if isinstance(err, ssl.SSLCertVerificationError):
        ca = login.cafile or "the system CA store"
        return (
            f"{where}: TLS server certificate not trusted ({err.verify_message}): we refused the broker's "
            f"certificate; check mqtt.cafile ({ca}) and that the URL's host name is in the certificate"
        )
    if isinstance(err, ssl.SSLError) and _ALERT.search(str(err)):
        return explain_tls_refusal(str(err), broker, login)
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
