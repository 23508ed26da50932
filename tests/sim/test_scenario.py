"""Scenario files: the shipped ones load; bad ones fail naming the file and the dotted key."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.scenario import ScenarioError, Sweep, for_vehicle, load_scenario, parse_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "sim" / "scenarios"
MINIMAL = """
name = "t"
[home]
lat = 42.6
lon = 19.94
alt_m = 1000
[platform]
kind = "drone"
"""


@pytest.mark.parametrize("name", ["drone-border", "mss-ridge", "coast", "sitl-plav"])
def test_shipped_scenarios_load(name: str) -> None:
    sc = load_scenario(SCENARIOS / f"{name}.toml")
    assert sc.name == name
    assert sc.targets, "every shipped scenario has targets"


def test_shipped_scenarios_have_the_platforms_the_issue_asks_for() -> None:
    border = load_scenario(SCENARIOS / "drone-border.toml")
    ridge = load_scenario(SCENARIOS / "mss-ridge.toml")
    coast = load_scenario(SCENARIOS / "coast.toml")
    assert border.platform.kind == "drone" and 80 <= border.platform.height_m <= 150
    assert {t.class_name for t in border.targets} == {"person", "vehicle"}
    assert (
        ridge.platform.kind == "mss" and ridge.platform.mast_height_m == 6.0 and ridge.platform.pan.amplitude_deg == 60
    )
    assert coast.platform.kind == "drone" and {t.class_name for t in coast.targets} == {"boat"}


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "s.toml"
    p.write_text(text)
    return p


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ("[camera]\nhfov_deg = 200\n", "camera.hfov_deg"),
        ("[camera]\nmode = 'infrared'\n", "camera.mode"),
        ("[camera]\nzoom = 2\n", "camera.zoom"),
        ("[[targets]]\nclass = 'tank'\nnorth_m = 1\neast_m = 2\n", "targets.0.class"),
        ("[[targets]]\nclass = 'person'\nnorth_m = 1\neast_m = 2\nspeed_mps = -1\n", "targets.0.speed_mps"),
        ("[[targets]]\nclass = 'person'\nnorth_m = 1\nlat = 42.0\nlon = 19.0\n", "targets.0"),
        ("[[targets]]\nclass = 'person'\n", "targets.0"),
        ("[noise]\ngps_m = -2\n", "noise.gps_m"),
    ],
)
def test_bad_values_name_file_and_dotted_key(tmp_path: Path, extra: str, key: str) -> None:
    path = _write(tmp_path, MINIMAL + extra)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: {key}"), msg


def test_platform_route_and_orbit_together_is_an_error(tmp_path: Path) -> None:
    text = MINIMAL + "route = [[0, 0], [100, 0]]\norbit = { north_m = 0, east_m = 0, radius_m = 50 }\n"
    with pytest.raises(ScenarioError, match=r"s\.toml: platform: .*route or orbit"):
        load_scenario(_write(tmp_path, text))


def test_missing_top_level_key_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"s\.toml: home: Field required"):
        load_scenario(_write(tmp_path, "name = 'x'\n[platform]\nkind = 'drone'\n"))
    with pytest.raises(ScenarioError, match=r"s\.toml: not valid TOML"):
        load_scenario(_write(tmp_path, "name = \n"))
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "absent.toml")


def test_missing_dem_file_is_named(tmp_path: Path) -> None:
    text = MINIMAL.replace("[platform]", "[ground]\ndem = 'N42E019.hgt'\n[platform]")
    with pytest.raises(ScenarioError, match=r"ground\.dem: no such file .*N42E019\.hgt"):
        load_scenario(_write(tmp_path, text))


def test_point_shorthand_and_defaults() -> None:
    sc = parse_scenario(
        {
            "name": "p",
            "home": {"lat": 1.0, "lon": 2.0},
            "platform": {"kind": "drone", "route": [[10, 20], {"lat": 1.001, "lon": 2.0}]},
            "targets": [{"class": "boat", "north_m": 5, "east_m": 6, "path": [[7, 8]]}],
        }
    )
    assert (sc.platform.route[0].north_m, sc.platform.route[0].east_m) == (10.0, 20.0)
    assert sc.platform.route[1].lat == 1.001
    assert sc.targets[0].class_name == "boat" and sc.targets[0].path[0].east_m == 8.0
    assert sc.camera.width == 640 and sc.camera.mode == "day"


@pytest.mark.parametrize(("t", "deg"), [(0.0, 10.0), (5.0, 40.0), (10.0, 10.0), (15.0, -20.0)])
def test_sweep_is_a_sine(t: float, deg: float) -> None:
    assert Sweep(centre_deg=10, amplitude_deg=30, period_s=20).at(t) == pytest.approx(deg, abs=1e-9)


PAIR = """
[[cameras]]
id = "day"
brightness = 0.6
[[cameras]]
id = "ir"
mode = "thermal"
width = 320
height = 256
offset_right_m = 0.2
"""


def test_several_cameras_the_first_is_the_camera() -> None:
    sc = load_scenario(SCENARIOS / "mss-ridge-pair.toml")
    assert [c.id for c in sc.cameras] == ["day", "thermal"]
    assert [c.mode for c in sc.cameras] == ["day", "thermal"]
    assert sc.camera == sc.cameras[0].as_camera()
    assert any(t.thermal_only for t in sc.targets)
    border = load_scenario(SCENARIOS / "drone-border-pair.toml")
    assert [(c.id, c.mode) for c in border.cameras] == [("eo", "day"), ("ir", "thermal")]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("[camera]\nwidth = 320\n" + PAIR, ": (top level): Value error, give either [camera] or [[cameras]], not both"),
        (PAIR.replace('id = "ir"', 'id = "day"'), ": (top level): Value error, cameras: ids must differ"),
        (PAIR.replace('id = "ir"', 'id = "i r"'), ": cameras.1.id: String should match pattern"),
        (PAIR.replace("offset_right_m = 0.2", "offset_right_m = 20"), ": cameras.1.offset_right_m: "),
    ],
)
def test_bad_camera_lists_are_named(tmp_path: Path, extra: str, message: str) -> None:
    path = _write(tmp_path, MINIMAL + extra)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(info.value).startswith(f"{path}{message}"), str(info.value)


def test_a_fleet_scenario_gives_each_vehicle_its_platform_camera_and_noise() -> None:
    sc = load_scenario(SCENARIOS / "border-pair.toml")
    assert [v.name for v in sc.vehicles] == ["drone-south", "drone-north"]
    assert sc.platform == sc.vehicles[0].platform  # alone, the file runs its first vehicle
    north = for_vehicle(sc, "drone-north")
    assert north.platform.orbit is not None and not north.platform.orbit.clockwise
    assert north.camera.yaw_deg == -90.0 and north.targets == sc.targets
    assert (for_vehicle(sc, "drone-south").noise.seed_offset, north.noise.seed_offset) == (0, 1)
    with pytest.raises(
        ScenarioError, match="border-pair: vehicles: no vehicle named 'x' \\(have: drone-south, drone-north\\)"
    ):
        for_vehicle(sc, "x")


def test_fleet_vehicle_names_are_unique_and_checked(tmp_path: Path) -> None:
    text = MINIMAL.replace('[platform]\nkind = "drone"\n', "")
    two = '[[vehicles]]\nname = "a"\nplatform = {kind = "drone"}\n'
    with pytest.raises(ScenarioError, match="names must be unique"):
        load_scenario(_write(tmp_path, text + two + two))
    with pytest.raises(ScenarioError, match=r"vehicles\.0\.name: String should match pattern"):
        load_scenario(_write(tmp_path, text + two.replace('"a"', '"a b"')))
