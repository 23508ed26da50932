"""The daemon config the demo writes for each shipped scenario: valid, and matching the scenario's sensors."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config import load_config
from sim.daemon_config import merge, to_toml
from sim.demo import daemon_config
from sim.scenario import load_scenario

SCENARIOS = sorted((Path(__file__).resolve().parents[2] / "sim" / "scenarios").glob("*.toml"))


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_demo_config_is_valid_and_describes_the_scenario(path: Path, tmp_path: Path) -> None:
    status = {"camera": "http://127.0.0.1:8554/stream.mjpg", "gpsd": "127.0.0.1:2950"}
    cfg = load_config(daemon_config(tmp_path, str(path), status, 1883, 14550, None))
    sc = load_scenario(path)
    assert cfg.geo.hfov_deg == sc.camera.hfov_deg
    assert cfg.geo.earth_curvature is False
    if sc.ground.dem is not None:
        assert cfg.geo.dem_path == str(sc.ground.dem) and cfg.geo.ground_alt_m is None
    else:
        assert cfg.geo.ground_alt_m == (sc.ground.alt_m if sc.ground.alt_m is not None else sc.home.alt_m)
    assert cfg.vehicle.kind == sc.platform.kind
    assert cfg.gps.enabled and cfg.gps.port == 2950
    if sc.platform.kind == "mss":
        assert cfg.gps.camera_height_m == sc.platform.mast_height_m
    # how the camera is held when nothing reports it (ArduPilot SITL has no gimbal)
    c = sc.camera
    expected = "body" if c.frame == "body" else "stabilised" if c.yaw_follows_body else "earth"
    tilt = sc.platform.tilt_deg if sc.platform.kind == "mss" else 0.0
    assert cfg.geo.gimbal_mode == expected
    assert (cfg.geo.mount_pitch_deg, cfg.geo.mount_yaw_deg) == (c.pitch_deg + tilt, c.yaw_deg)
    tiles = (cfg.detector.tiling.cols, cfg.detector.tiling.rows)
    assert tiles == ((2, 2) if sc.camera.width >= 1280 else (1, 1))


def test_later_sections_win_and_text_is_escaped() -> None:
    merged = merge({"a": {"x": 1, "y": "keep"}}, {"a": {"x": 2}, "b": {"on": True}})
    assert merged == {"a": {"x": 2, "y": "keep"}, "b": {"on": True}}
    text = to_toml({"a": {"path": 'C:\\dir "q"', "f": 0.5, "on": False}})
    assert text == '[a]\npath = "C:\\\\dir \\"q\\""\nf = 0.5\non = false\n'
    assert to_toml({"a": {"b": [42.5, -19]}}) == "[a]\nb = [42.5, -19]\n"
    with pytest.raises(TypeError, match=r"\[a\] l"):
        to_toml({"a": {"l": ["x"]}})
