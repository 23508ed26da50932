"""The telemetry-radio transport: records to the ground station in TUNNEL messages over the daemon's MAVLink link.

Framing is ``uplink.radio_frames``; the ground (``edge listen --mavlink``) acks each whole record with TUNNEL back
to us, and only then the drainer deletes the row. The radio's bytes come out of the GCS alerter's byte bucket
(``[gcs] bytes_per_s``): records never take the headroom new-track alerts need, and only track
updates younger than ``radio.update_max_age_s`` go this way (older ones wait for MQTT), so updates are thinned to
fit while alerts always go.
"""

from __future__ import annotations

import secrets
import threading
from collections import deque
from typing import Any, Protocol

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from edge.ops.budget import LOW, NORMAL, RESERVE, LinkBudget, SpoolBytes
from edge.stages import Delivery, Health, Outgoing
from edge.types import Priority
from edge.uplink import radio_frames as rf
from edge.uplink.drainer import Drainer, DrainSettings
from edge.uplink.settings import RadioSettings
from edge.uplink.spool import Spool

SIGNATURE_LEN = 13


class RadioLink(Protocol):
    """What the transport needs of the daemon's MAVLink link (edge.sources.mavlink.MavlinkLink)."""

    source_system: int
    source_component: int

    @property
    def connected(self) -> bool: ...

    def send(self, msg: Any) -> bool: ...

    def add_listener(self, callback: Any, any_system: bool = False) -> None: ...


class RadioTransport:
    """A Transport over a RadioLink; acks arrive on the link's thread and are handed over through a deque."""

    name = "radio"

    def __init__(self, link: RadioLink, settings: RadioSettings, vehicle_id: str, signing: bool = False) -> None:
        self.link = link
        self.settings = settings
        self.vehicle_id = vehicle_id
        self.carries = {int(Priority.ALERT): float("inf"), int(Priority.UPDATE): settings.update_max_age_s}
        self.session = 0  # acks are matched by row; a lost TUNNEL is found by the drainer's ack timeout
        self.nonce = secrets.randbits(16)
        self._extra = SIGNATURE_LEN if signing else 0
        self._packer = mavlink.MAVLink(None, link.source_system, link.source_component)
        self._acks: deque[int] = deque()
        self._wake = threading.Event()
        self._rows: dict[int, int] = {}  # xfer -> row id of what is in flight
        self._frames: tuple[int, list[Any], int] | None = None  # (row id, TUNNEL messages, bytes)
        self.stats = {"frames_sent": 0, "acks_in": 0, "too_large": 0}
        link.add_listener(self._on_message, any_system=True)  # acks come from the ground station's system

    # -- Transport ----------------------------------------------------------------------------------------------
    def poll(self, timeout: float) -> list[Delivery]:
        if not self._acks:
            self._wake.wait(timeout)
        self._wake.clear()
        out = []
        while self._acks:
            row = self._rows.pop(self._acks.popleft(), None)
            if row is not None:
                out.append(Delivery(row))
        return out

    def window(self) -> int:
        return self.settings.max_inflight if self.link.connected else 0

    def destination(self, prio: int) -> str:
        return "radio:tunnel"

    def cost(self, rec: Outgoing) -> int:
        try:
            payloads = rf.fragments(self.nonce, rec.row_id, rf.body(self.vehicle_id, rec.payload))
        except rf.FrameError:
            self.stats["too_large"] += 1
            payloads = []
        msgs = [
            mavlink.MAVLink_tunnel_message(0, 0, rf.PAYLOAD_TYPE, len(p), p.ljust(rf.PAYLOAD_MAX, b"\0"))
            for p in payloads
        ]
        size = sum(len(m.pack(self._packer)) + self._extra for m in msgs)
        self._frames = (rec.row_id, msgs, size)
        return size

    def send(self, rec: Outgoing) -> bool:
        if self._frames is None or self._frames[0] != rec.row_id:
            self.cost(rec)
        assert self._frames is not None
        msgs = self._frames[1]
        if not msgs:
            return False
        for m in msgs:
            if not self.link.send(m):
                return False
            self.stats["frames_sent"] += 1
        self._rows[rec.row_id & 0xFFFFFFFF] = rec.row_id
        if len(self._rows) > 4096:  # acks that never came (timed out, sent again under the same xfer)
            for k in list(self._rows)[:2048]:
                del self._rows[k]
        return True

    def close(self, timeout: float) -> None:
        pass

    def health(self) -> Health:
        return {"state": "connected" if self.link.connected else "waiting for the MAVLink link", **self.stats}

    # -- link thread --------------------------------------------------------------------------------------------
    def _on_message(self, msg: Any, _t: float) -> None:
        if msg.get_type() != "TUNNEL" or msg.payload_type != rf.PAYLOAD_TYPE:
            return
        if msg.target_system not in (0, self.link.source_system):
            return
        got = rf.parse_ack(bytes(msg.payload[: msg.payload_length]))
        if got is None or got[0] != self.nonce:
            return
        self._acks.extend(got[1])
        self.stats["acks_in"] += len(got[1])
        self._wake.set()


def radio_uplink(
    link: RadioLink, settings: RadioSettings, spool: Spool, vehicle_id: str, budget: LinkBudget, signing: bool = False
) -> Drainer:
    """The radio uplink: a Drainer (a Stage named "radio") over a RadioTransport on the GCS alerter's budget."""
    drain = DrainSettings(ack_timeout_s=settings.ack_timeout_s, historical_after_s=settings.historical_after_s)
    # Records never take the headroom the alerter's new-track alerts need: alert records go above its NORMAL
    # reserve, updates above its LOW one.
    reserves = {int(Priority.ALERT): RESERVE[NORMAL], int(Priority.UPDATE): RESERVE[LOW]}
    return Drainer(
        spool, RadioTransport(link, settings, vehicle_id, signing), SpoolBytes(budget.bytes, reserves), drain
    )
