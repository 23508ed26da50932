"""``edge-centre thumbnail VEHICLE TRACK``: ask a vehicle for the crop of a track, as the centre's MQTT user.

Publishes the request (edge.thumbs.wire) on ``edge/<vehicle>/cmd/thumbnail/<user>`` and waits for the broker's
PUBACK: a refusal (the ACL) is said in words and exits 1. The answer and the image come back through the ingest
workers (the map's *Thumbnails*, ``/api/thumbnails``). The request is written to the centre's audit log.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from typing import Any

from centre.config import CentreConfig
from centre.store import open_store
from edge.secrets import read_secret
from edge.uplink.conn import Login, explain_connack, make_client, parse_url

TIMEOUT_S = 10.0


def ask_thumbnail(cfg: CentreConfig, request: dict[str, Any], vehicle: str) -> tuple[bool, str]:
    """Publish ``request`` to ``vehicle``; (True, the request id) once the broker took it, else (False, why)."""
    broker = parse_url(cfg.mqtt.url)
    user = cfg.mqtt.username
    login = Login(
        tls=broker.tls,
        cafile=cfg.mqtt.cafile,
        username=user,
        password=read_secret("mqtt-password", "EDGE_CENTRE_MQTT_PASSWORD") if user else None,
    )
    request = {"id": uuid.uuid4().hex[:12], **request}
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
    store = open_store(cfg.store.url)
    store.audit(time.time(), os.environ.get("USER", user or "centre"), "ask thumbnail", {"vehicle": vehicle, **request})
    store.close()
    return True, str(request["id"])
