"""Evidence clips from a real run: `edge sim` + `edge run` with the recorder on. Each clip plays in ffmpeg, lasts
pre_s + post_s (plus at most one segment: it starts at a keyframe), and its MISB ST 0601 KLV, read back by
ffmpeg's data-stream dump and the klvdata package (both independent of our encoder), matches the pose the pose store
gave for each frame (the clip's sidecar records it): positions within 1 m, angles within 0.1 deg."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge.geo.orientation import camera_attitude, euler_zyx, rot_zyx
from sim.demo import REPO, Demo
from sim.scenario import load_scenario
from sim.world import World

klvdata = pytest.importorskip("klvdata")
pytestmark = [pytest.mark.integration, pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")]

PRE_S, POST_S, SEGMENT_S = 3.0, 3.0, 1.0
CLIPS = {"enabled": True, "pre_s": PRE_S, "post_s": POST_S, "max_clip_s": PRE_S + POST_S, "segment_s": SEGMENT_S,
         "ring_s": 20.0}  # fmt: skip


def probe(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return dict(json.loads(out))


def klv_packets(path: Path) -> list[dict[str, Any]]:
    """Each ST 0601 packet of the clip as {element name: value}, read by ffmpeg and klvdata."""
    dump = subprocess.run(
        ["ffmpeg", "-v", "quiet", "-i", str(path), "-map", "0:d", "-c", "copy", "-f", "data", "-"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    return [{type(i).__name__: i.value.value for i in p.items.values()} for p in klvdata.StreamParser(dump)]


def angle_diff(a: float, b: float) -> float:
    return abs((a - b + 180.0) % 360.0 - 180.0)


def metres(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    return math.hypot((lat1 - lat2) * 111_320.0, (lon1 - lon2) * 111_320.0 * math.cos(math.radians(lat1)))


def test_clips_around_alerts_play_and_carry_the_pose(tmp_path: Path) -> None:
    scenario = str(REPO / "sim" / "scenarios" / "drone-border.toml")
    demo = Demo(scenario, tmp_path, extra={"clips": CLIPS})
    try:
        demo.follow(demo.start(), echo=False)
        time.sleep(36)  # the first clips lack their start (the ring is young): several whole ones follow
    finally:
        demo.stop()
    folder = tmp_path / "state" / "clips"
    log = (tmp_path / "daemon.log").read_text(errors="replace")[-3000:]
    sides = {p: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}
    whole = [p for p, s in sides.items() if not s["truncated"] and s["start_missing_s"] == 0]
    assert whole, (sorted(p.name for p in folder.iterdir()), log)
    health = json.loads((tmp_path / "state" / "health.json").read_text())["stages"]["clips:cam0"]
    assert health["state"] == "recording" and health["ffmpeg_restarts"] == 0, health
    assert health["source"] == "encode"  # "auto" on the simulator's MJPEG stream
    assert health["ring_s"] <= 20.0 + SEGMENT_S + 0.5, health
    world, t0 = World(load_scenario(scenario), seed=demo.status.get("seed")), float(demo.status["t0_utc"])
    off_m, off_deg = [], []  # the KLV against the simulator's truth at its time stamp
    checked, leads = 0, []
    for side_path in whole:
        side, clip = sides[side_path], side_path.with_suffix(".ts")
        info = probe(clip)
        kinds = sorted((s["codec_type"], s["codec_name"]) for s in info["streams"])
        assert kinds == [("data", "klv"), ("video", "h264")], info
        assert side["window_s"] == pytest.approx(PRE_S + POST_S)
        # a clip starts at the keyframe before pre_s (lead_s earlier: a segment, longer while the recorder could not
        # keep its frame rate) and ends within a frame of post_s
        duration = float(info["format"]["duration"])
        assert duration == pytest.approx(PRE_S + POST_S + side["lead_s"], abs=0.25), (duration, side["lead_s"])
        leads.append(side["lead_s"])
        decoded = subprocess.run(["ffmpeg", "-v", "error", "-i", str(clip), "-f", "null", "-"], capture_output=True)
        assert decoded.returncode == 0 and b"error" not in decoded.stderr.lower(), decoded.stderr
        posed = [f for f in side["frames"] if "pose" in f]  # a frame repeated (camera slower than fps) repeats its pose
        packets = klv_packets(clip)
        assert len(packets) == len(posed) >= 0.8 * len(side["frames"]) > 10, (len(packets), len(side["frames"]))
        targets = 0
        for k, f in zip(packets, posed, strict=True):  # one packet per frame, in order
            assert k["PrecisionTimeStamp"].timestamp() == pytest.approx(f["t_utc"], abs=1e-6)
            p = f["pose"]
            assert metres(k["SensorLatitude"], k["SensorLongitude"], p["lat"], p["lon"]) < 1.0
            assert abs(k["SensorTrueAltitude"] - p["alt"]) < 1.0
            assert angle_diff(k["PlatformHeadingAngle"], p["yaw_deg"]) < 0.1
            assert angle_diff(k["PlatformPitchAngle"], p["pitch_deg"]) < 0.1
            assert angle_diff(k["PlatformRollAngle"], p["roll_deg"]) < 0.1
            # the camera in NED from the platform's and the sensor's relative angles (ST 0601: Z-Y-X, in turn)
            r = rot_zyx(
                *(math.radians(k[n]) for n in ("PlatformHeadingAngle", "PlatformPitchAngle", "PlatformRollAngle"))
            )
            rel = ("SensorRelativeAzimuthAngle", "SensorRelativeElevationAngle", "SensorRelativeRollAngle")
            cam = np.degrees(euler_zyx(r @ rot_zyx(*(math.radians(k[n]) for n in rel))))
            for got, want in zip(cam, (p["cam_yaw_deg"], p["cam_pitch_deg"], p["cam_roll_deg"]), strict=True):
                assert angle_diff(float(got), want) < 0.1, (cam, p)
            truth = world.platform(k["PrecisionTimeStamp"].timestamp() - t0)
            off_m.append(metres(k["SensorLatitude"], k["SensorLongitude"], truth.lat, truth.lon))
            off_deg.append(
                max(angle_diff(a, math.degrees(b)) for a, b in zip(cam[:2], camera_attitude(truth)[:2], strict=True))
            )
            assert k["SensorHorizontalFieldOfView"] == pytest.approx(22.0, abs=0.01)  # the scenario's camera
            assert "FrameCenterLatitude" in k
            if "target" in f:
                targets += 1
                lat, lon, alt = f["target"]
                assert metres(k["TargetLocationLatitude"], k["TargetLocationLongitude"], lat, lon) < 1.0
                assert abs(k["TargetLocationElevation"] - alt) < 1.0
        assert targets > 0  # after the alert, the target's location rides along
        checked += 1
    assert checked >= 1
    print(f"clips: {checked} checked, KLV vs truth median {np.median(off_m):.2f} m, {np.median(off_deg):.2f} deg")
    # the pose store's poses are the drone's (GPS noise 1.5 m, attitude 0.3 deg, frames stamped on arrival)
    assert float(np.median(off_m)) < 5.0 and float(np.median(off_deg)) < 1.5, (np.median(off_m), np.median(off_deg))
    assert min(leads) <= 1.5 * SEGMENT_S, leads  # a segment in steady state (~1 s keyframes at 10 frames/s)
