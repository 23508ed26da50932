"""Replaying the ArduPilot SITL log (../shared/data) through MavlinkLink: the pose store's poses match the log's
GLOBAL_POSITION_INT and ATTITUDE, and the flight is the one its README describes."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge.sources.mavlink import MavlinkLink, attach_pose_feed
from edge.sources.pose import PoseStore
from edge.sources.settings import MavlinkSettings, PoseSettings

TLOG = Path(__file__).resolve().parents[3] / "shared" / "data" / "sitl-copter-plav.tlog"
pytestmark = pytest.mark.skipif(not TLOG.is_file(), reason=f"{TLOG} is absent")
M_PER_DEG = 111_320.0


@pytest.fixture(scope="module")
def replay() -> tuple[MavlinkLink, PoseStore, list[Any]]:
    link = MavlinkLink(MavlinkSettings(url=str(TLOG), replay_speed=0.0))
    store = PoseStore(PoseSettings(history_s=1e6))
    attach_pose_feed(link, store)
    msgs: list[Any] = []
    link.add_listener(lambda m, _t: msgs.append(m) if m.get_type() in ("GLOBAL_POSITION_INT", "ATTITUDE") else None)
    link.start()
    deadline = time.monotonic() + 60.0
    while link.state != "ended" and time.monotonic() < deadline:
        time.sleep(0.05)
    link.stop()
    assert link.state == "stopped" and link.stats["messages"] > 20_000
    return link, store, msgs


def test_positions_match_the_log(replay: tuple[MavlinkLink, PoseStore, list[Any]]) -> None:
    link, store, msgs = replay
    gpi = [m for m in msgs if m.get_type() == "GLOBAL_POSITION_INT"]
    assert len(gpi) > 700  # ~207 s at ~4 Hz
    horiz, vert = [], []
    for m in gpi:
        t = link.to_mono(m.time_boot_ms)
        p = store.pose_at(t) if t is not None else None
        assert p is not None, f"no pose at time_boot_ms {m.time_boot_ms}"
        dn = (p.lat - m.lat / 1e7) * M_PER_DEG
        de = (p.lon - m.lon / 1e7) * M_PER_DEG * math.cos(math.radians(p.lat))
        horiz.append(math.hypot(dn, de))
        vert.append(abs(p.alt - m.alt / 1000.0))
    # poses are stored with the clock offset known at arrival; later, better offsets move the lookup by a few ms
    assert np.percentile(horiz, 95) < 0.05 and max(horiz) < 0.5
    assert np.percentile(vert, 95) < 0.05 and max(vert) < 0.2
    assert store.ground_alt_hint() == pytest.approx(1000.0, abs=0.5)  # home 1000 m AMSL (README)


def test_attitudes_match_the_log(replay: tuple[MavlinkLink, PoseStore, list[Any]]) -> None:
    link, store, msgs = replay
    errs = []
    for m in (m for m in msgs if m.get_type() == "ATTITUDE"):
        t = link.to_mono(m.time_boot_ms)
        p = store.pose_at(t) if t is not None else None
        assert p is not None
        errs.append(max(abs(p.roll - m.roll), abs(p.pitch - m.pitch), abs(math.remainder(p.yaw - m.yaw, math.tau))))
    assert len(errs) > 700
    assert np.percentile(errs, 95) < 1e-3 and max(errs) < 0.05


def test_the_flight_is_the_one_the_readme_describes(replay: tuple[MavlinkLink, PoseStore, list[Any]]) -> None:
    _, _, msgs = replay
    gpi = [m for m in msgs if m.get_type() == "GLOBAL_POSITION_INT"]
    north = np.array([(m.lat / 1e7 - 42.5978) * M_PER_DEG for m in gpi])
    east = np.array([(m.lon / 1e7 - 19.9392) * M_PER_DEG * math.cos(math.radians(42.5978)) for m in gpi])
    rel = np.array([m.relative_alt / 1000.0 for m in gpi])
    assert north.max() == pytest.approx(300.0, abs=15.0)  # leg to 300 m north / 200 m east at 120 m
    assert east.max() == pytest.approx(400.0, abs=20.0)  # leg to 400 m east
    assert rel.max() == pytest.approx(120.0, abs=5.0)
    assert abs(north[0]) < 2 and abs(east[0]) < 2  # starts at home
