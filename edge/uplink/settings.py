"""Config sections of the uplink: spool, MQTT and the telemetry radio. (Owned by the uplink work.)"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from edge.settings_base import FilePath, Section


class SpoolSettings(Section):
    """The durable store-and-forward queue (SQLite in the state directory)."""

    max_bytes: int = Field(
        256 * 1024 * 1024, title="Spool size limit", description="Payload bytes kept at most; then evicts.", gt=0
    )
    max_rows: int = Field(2_000_000, title="Spool row limit", description="Messages kept at most; then evicts.", gt=0)
    synchronous: Literal["FULL", "NORMAL"] = Field(
        "FULL",
        title="Durability",
        description="SQLite synchronous mode: FULL survives power loss; NORMAL may lose the last commits on power loss.",
    )
    ttl_alert_s: float = Field(
        7 * 86400.0, title="Alert lifetime", description="New-track records older than this are dropped (s).", gt=0
    )
    ttl_update_s: float = Field(
        86400.0, title="Update lifetime", description="Track-update records older than this are dropped (s).", gt=0
    )
    ttl_health_s: float = Field(
        600.0, title="Health lifetime", description="Health messages older than this are dropped (s).", gt=0
    )
    ttl_image_s: float = Field(
        600.0,
        title="Thumbnail lifetime",
        description="Thumbnail answers and chunks older than this are dropped (s); audit records keep ttl_alert_s.",
        gt=0,
    )
    queue_frames: int = Field(
        10_000,
        title="Writer queue",
        description="Frames waiting for the spool's next commit at most; more are dropped and counted.",
        gt=0,
    )


class MqttSettings(Section):
    """The MQTT uplink."""

    url: str = Field("", title="Broker URL", description="mqtt://HOST:PORT or mqtts://HOST:PORT; empty disables.")
    protocol: Literal["5", "3.1.1"] = Field("5", title="MQTT version", description="5, or 3.1.1 for older brokers.")
    client_id: str = Field("", title="Client id", description="Empty: edge-<vehicle id>.")
    keepalive_s: int = Field(
        30, title="Keep-alive", description="Seconds; a silent link is declared dead after 1.5x this.", ge=2
    )
    session_expiry_s: int = Field(
        86400, title="Session expiry", description="Seconds the broker keeps our session after a disconnect.", ge=0
    )
    max_inflight: int = Field(
        64,
        title="In-flight window",
        description="Unacknowledged QoS 1 messages at most (capped by Receive Maximum).",
        gt=0,
    )
    bytes_per_s: float = Field(
        0.0,
        title="Byte budget",
        description="Link bytes/s (MQTT framing included) the uplink may send; 0: unlimited.",
        ge=0,
    )
    burst_s: float = Field(1.0, title="Budget burst", description="Token bucket depth in seconds of the budget.", gt=0)
    image_share: float = Field(
        0.3,
        title="Thumbnail share",
        description="Fraction of the bytes sent a requested thumbnail is owed while it goes out, ahead of track "
        "updates (new-track alerts always go first).",
        gt=0,
        lt=1,
    )
    reconnect_min_s: float = Field(
        0.5,
        title="Reconnect backoff start",
        description="Seconds; the first retry after a connected session is quicker.",
        gt=0,
    )
    reconnect_max_s: float = Field(
        1.0,
        title="Reconnect backoff limit",
        description="Seconds: a broker's return is noticed within this (a refused connect costs a few bytes).",
        gt=0,
    )
    connect_timeout_s: float = Field(
        10.0, title="Connect timeout", description="Seconds for TCP, TLS and CONNACK together.", gt=0
    )
    ack_timeout_s: float = Field(
        60.0, title="Ack timeout", description="A message unacknowledged this long is sent again (s).", gt=0
    )
    quota_backoff_s: float = Field(
        5.0, title="Quota backoff", description="Pause after the broker says quota exceeded (s).", gt=0
    )
    tls: bool = Field(
        False, title="TLS", description="Use TLS (also implied by an mqtts:// URL); the server certificate is verified."
    )
    cafile: FilePath = Field("", title="CA file", description="PEM CA bundle for the server; empty: the system's.")
    certfile: FilePath = Field("", title="Client certificate", description="PEM client certificate for mutual TLS.")
    keyfile: FilePath = Field("", title="Client key", description="PEM key of the client certificate.")
    tls_insecure: bool = Field(
        False,
        title="Skip hostname check",
        description="Do not match the server certificate's name (never in production).",
    )
    username: str = Field("", title="User name", description="Empty: no login.")
    password_credential: str = Field(
        "mqtt-password",
        title="Password credential",
        description="systemd credential name ($CREDENTIALS_DIRECTORY/<name>), else env EDGE_MQTT_PASSWORD.",
    )
    historical_after_s: float = Field(
        10.0,
        title="Historical after",
        description="Records older than this when sent (backlog after an outage) are flagged historical (s).",
        gt=0,
    )

    # reconnect_min_s <= reconnect_max_s: the rule every Section has for *min*/*max* pairs (edge.settings_base)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if v:
            from edge.uplink.conn import parse_url  # paho is only imported when a URL is set

            parse_url(v)
        return v


class RadioSettings(Section):
    """Records to the ground station over the daemon's [mavlink] link (TUNNEL messages; `edge listen --mavlink`)."""

    enabled: bool = Field(
        False,
        title="Send records over the telemetry radio",
        description="Needs [mavlink] url; the radio's bytes/s are [gcs] bytes_per_s, shared with the GCS alerts.",
    )
    max_inflight: int = Field(
        4, title="In-flight window", description="Records sent and not yet acknowledged by the ground at most.", gt=0
    )
    ack_timeout_s: float = Field(
        10.0,
        title="Ack timeout",
        description="A record the ground has not acknowledged this long is sent again (s).",
        gt=0,
    )
    update_max_age_s: float = Field(
        30.0,
        title="Update age limit",
        description="Track updates older than this are left to the other uplinks (thins updates to fit the radio; s).",
        gt=0,
    )
    historical_after_s: float = Field(
        10.0,
        title="Historical after",
        description="Records older than this when sent are flagged historical (s).",
        gt=0,
    )
