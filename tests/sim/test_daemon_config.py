"""The daemon config the demo writes for each shipped scenario: valid, and matching the scenario's sensors."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.cameras import camera_setups
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
    still_mast = sc.platform.kind == "mss" and sc.platform.pan.amplitude_deg == 0.0
    assert cfg.tracker.velocity_noise == (0.25 if still_mast else 0.5)
    # how the camera is held when nothing reports it (ArduPilot SITL has no gimbal)
    c = sc.camera
    expected = "body" if c.frame == "body" else "stabilised" if c.yaw_follows_body else "earth"
    tilt = sc.platform.tilt_deg if sc.platform.kind == "mss" else 0.0
    assert cfg.geo.gimbal_mode == expected
    assert (cfg.geo.mount_pitch_deg, cfg.geo.mount_yaw_deg) == (c.pitch_deg + tilt, c.yaw_deg)
    if sc.cameras:
        return  # several cameras: test_each_camera_of_a_pair_is_a_cameras_table
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


@pytest.mark.parametrize("name", ["mss-ridge-pair", "drone-border-pair"])
def test_each_camera_of_a_pair_is_a_cameras_table(name: str, tmp_path: Path) -> None:
    """Each simulated camera: its own stream, lens, mount and offset; tiles for the wide day frame and the mast's
    far-watching thermal imager, not for the drone's IR."""
    path = SCENARIOS[0].parent / f"{name}.toml"
    sc = load_scenario(path)
    urls = {c.id: f"http://127.0.0.1:{9000 + i}/stream.mjpg" for i, c in enumerate(sc.cameras)}
    status = {"camera": urls[sc.cameras[0].id], "cameras": urls, "gpsd": "127.0.0.1:2950"}
    setups = camera_setups(load_config(daemon_config(tmp_path, str(path), status, 1883, 14550, None)))
    assert [(s.camera.id, s.camera.url) for s in setups] == list(urls.items())
    tilt = sc.platform.tilt_deg if sc.platform.kind == "mss" else 0.0
    for setup, cam in zip(setups, sc.cameras, strict=True):
        g = setup.geo
        assert (g.hfov_deg, g.mount_pitch_deg, g.mount_yaw_deg) == (cam.hfov_deg, cam.pitch_deg + tilt, cam.yaw_deg)
        assert (g.offset_forward_m, g.offset_right_m, g.offset_down_m) == (
            cam.offset_forward_m, cam.offset_right_m, cam.offset_down_m,
        )  # fmt: skip
        assert g.ground_alt_m == sc.ground.alt_m and g.earth_curvature is False  # the rest from [geo]
        tiles = (setup.detector.tiling.cols, setup.detector.tiling.rows)
        far_thermal = cam.mode == "thermal" and sc.platform.kind == "mss"
        assert tiles == ((2, 2) if cam.width >= 1280 or far_thermal else (1, 1))
        assert setup.priority == (1 if cam.mode == "thermal" else 0)
        assert setup.detector.class_thresholds == ({"vehicle": 0.5} if cam.mode == "thermal" else {})


def test_arrays_of_tables_with_sub_tables() -> None:
    text = to_toml({"cameras": [{"id": "a", "geo": {"hfov_deg": 20.0}}, {"id": "b"}], "geo": {"x": 1}})
    assert text == '[[cameras]]\nid = "a"\n[cameras.geo]\nhfov_deg = 20.0\n[[cameras]]\nid = "b"\n[geo]\nx = 1\n'
    assert merge({"cameras": [{"id": "a"}]}, {"cameras": [{"id": "b"}]}) == {"cameras": [{"id": "b"}]}
