"""Ask a vehicle for the crop of a track, as the centre's MQTT user (``edge-centre thumbnail``, the map's button).

Publishes the request (edge.thumbs.wire) on ``edge/<vehicle>/cmd/thumbnail/<user>`` and waits for the broker's
PUBACK: a refusal (the ACL) is said in words. The answer and the image come back through the ingest workers (the
map's *Thumbnails*, ``/api/thumbnails``). The callers write the request to the centre's audit log.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

from centre.config import CentreConfig
from edge.secrets import read_secret
from edge.thumbs.wire import BadRequest, parse_request
from edge.uplink.conn import Login, explain_connack, make_client, parse_url

TIMEOUT_S = 10.0
VEHICLE = re.compile(r"[A-Za-z0-9_.-]{1,64}")  # a daemon's vehicle.id: one MQTT topic level, no wildcards


def checked_request(request: dict[str, Any], vehicle: str) -> dict[str, Any]:
    """``request`` with an id, as the vehicle will read it; BadRequest naming the field otherwise."""
    if not VEHICLE.fullmatch(vehicle):
        raise BadRequest(f"vehicle: {vehicle!r} is not a vehicle id (1-64 letters, digits, '_', '.', '-')")
    checked = parse_request(json.dumps({"id": uuid.uuid4().hex[:12], **request}).encode())
    return checked.model_dump(exclude_none=True)


def ask_thumbnail(cfg: CentreConfig, request: dict[str, Any], vehicle: str) -> tuple[bool, str]:
    """Publish ``request`` (checked_request's) to ``vehicle``; (True, its id) once the broker took it, else
    (False, why)."""
    broker = parse_url(cfg.mqtt.url)
    user = cfg.mqtt.username
    login = Login(
        tls=broker.tls,
        cafile=cfg.mqtt.cafile,
        username=user,
        password=read_secret("mqtt-password", "EDGE_CENTRE_MQTT_PASSWORD") if user else None,
    )
    got: dict[str, Any] = {}
    client = make_client(f"{cfg.mqtt.client_id}-ask", True, login)
    client.on_connect = lambda _c, _u, _f, rc, _p: got.setdefault("connack", rc)
    client.on_publish = lambda _c, _u, _mid, rc, _p: got.setdefault("puback", rc)
    try:
        client.connect(broker.host, broker.port)
    except (OSError, ValueError) as err:
        return False, f"MQTT broker {broker.host}:{broker.port}: {err}"
    deadline = time.monotonic() + TIMEOUT_S
    while "connack" not in got and time.monotonic() < deadline:
        client.loop(0.1)
    rc = got.get("connack")
    if rc is None or rc.is_failure:
        return False, explain_connack(rc, broker, login) if rc is not None else "no CONNACK"
    topic = f"edge/{vehicle}/cmd/thumbnail/{user or 'anonymous'}"
    client.publish(topic, json.dumps(request), qos=1)
    while "puback" not in got and time.monotonic() < deadline:
        client.loop(0.1)
    client.disconnect()
    code = int(getattr(got.get("puback"), "value", -1))
    if code != 0:
        why = "no PUBACK" if code < 0 else f"{got['puback']} (0x{code:02X})"
        return False, f"{topic}: the broker refused the request: {why} (its ACL decides who may ask)"
    return True, str(request["id"])
