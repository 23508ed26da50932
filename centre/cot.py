"""Cursor-on-Target for sightings, built with pytak (the TAK community's library), sent over UDP or TCP.

``udp://GROUP:PORT`` sends datagrams (239.2.3.1:6969 is ATAK's default SA multicast); ``tcp://HOST:PORT`` streams
events to a TAK server's plain CoT input (8087), reconnecting after a failure. One event per sighting update;
uid ``edge-centre-<sighting id>`` so TAK moves the marker instead of adding one.
"""

from __future__ import annotations

import logging
import socket
import warnings
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import urlsplit

with warnings.catch_warnings():  # pytak warns at import that its TLS extra is absent; the plain feeds need none
    warnings.simplefilter("ignore", UserWarning)
    import pytak

from edge.uplink.formats import COT_TYPES

log = logging.getLogger("centre.cot")


def sighting_cot(s: dict[str, Any], stale_s: int) -> bytes:
    """One CoT event (XML bytes with declaration) for a sighting row (store.sightings() dict)."""
    point = pytak.cot_point(lat=s["lat"], lon=s["lon"], ce=round(float(s["error_m"]), 1), precision=7)
    detail = pytak.cot_detail(flow_tag=False)
    sensors = ", ".join(sorted({m.split("/")[0] for m in s["members"]}))
    pytak.add_remarks(detail, [f"{s['class']} seen by {s['n_sensors']} sensor(s): {sensors}"])
    event = pytak.cot_event(
        uid=f"edge-centre-{s['id']}",
        cot_type=COT_TYPES.get(str(s["class"]), "a-u-G"),
        how="m-f",  # machine, fused
        stale=stale_s,
        point=point,
        detail=detail,
        callsign=f"{s['class']} {str(s['id'])[-6:]}",
    )
    return pytak.serialize_cot(event)


def parse_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of udp://HOST:PORT or tcp://HOST:PORT; ValueError otherwise."""
    p = urlsplit(url)
    if p.scheme not in ("udp", "tcp") or not p.hostname or not p.port:
        raise ValueError(f"TAK URL must look like udp://HOST:PORT or tcp://HOST:PORT, not {url!r}")
    return p.scheme, p.hostname, p.port


class CotSender:
    """Sends CoT events; a TCP link that fails is reopened on the next send (events meanwhile are dropped)."""

    def __init__(self, url: str) -> None:
        self.scheme, self.host, self.port = parse_url(url)
        self.sock: socket.socket | None = None
        self.sent = self.dropped = 0

    def _open(self) -> socket.socket:
        if self.scheme == "udp":
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 4)
            return s
        return socket.create_connection((self.host, self.port), timeout=5)

    def send(self, event: bytes) -> bool:
        try:
            if self.sock is None:
                self.sock = self._open()
            if self.scheme == "udp":
                self.sock.sendto(event, (self.host, self.port))
            else:
                self.sock.sendall(event + b"\n")
            self.sent += 1
            return True
        except OSError as err:
            if self.sock is not None:
                self.sock.close()
                self.sock = None
            self.dropped += 1
            log.warning("TAK %s://%s:%d: %s", self.scheme, self.host, self.port, err)
            return False

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()


def is_cot(event: bytes) -> ET.Element:
    """Parse and check an event's shape (version, uid, type, time, point); raise ValueError if it is not CoT."""
    root = ET.fromstring(event)
    if root.tag != "event" or root.get("version") != "2.0":
        raise ValueError("not a CoT 2.0 event")
    for attr in ("uid", "type", "time", "start", "stale", "how"):
        if not root.get(attr):
            raise ValueError(f"CoT event without {attr}")
    pt = root.find("point")
    if pt is None or not all(pt.get(a) for a in ("lat", "lon", "hae", "ce", "le")):
        raise ValueError("CoT event without a full point")
    return root
