"""`SITL=tcp:127.0.0.1:5760 make demo`: the demo with an ArduPilot SITL flying. Here a stand-in serves SITL's two
TCP ports (the simulator's autopilot on the same scenario, without a gimbal, as SITL has none): the simulator's
camera follows it on one, the daemon reads it on the other with the camera keys derived from the scenario
(a stabilised gimbal 45° down), and the received fixes are scored against the truth."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sim.autopilot import Autopilot
from sim.demo import REPO, Demo, daemon_sitl_url
from sim.scenario import load_scenario
from sim.world import World

SCENARIO = REPO / "sim" / "scenarios" / "sitl-plav.toml"
SECONDS = 45.0


def test_daemon_url_is_sitls_second_port() -> None:
    assert daemon_sitl_url("tcp:127.0.0.1:5760") == "tcp:127.0.0.1:5762"
    with pytest.raises(ValueError, match="--sitl-daemon"):
        daemon_sitl_url("udpin:0.0.0.0:14550")


def test_demo_follows_sitl_and_locates_with_the_scenarios_camera(tmp_path: Path) -> None:
    sc = load_scenario(SCENARIO)
    no_gimbal = sc.model_copy(update={"camera": sc.camera.model_copy(update={"reports_angles": False})})
    sitl = Autopilot(World(no_gimbal), ["tcpin:127.0.0.1:0", "tcpin:127.0.0.1:0"])
    sitl.start()
    ports = [link.port for link in sitl.links]  # type: ignore[attr-defined]
    demo = Demo(str(SCENARIO), tmp_path, sitl=(f"tcp:127.0.0.1:{ports[0]}", f"tcp:127.0.0.1:{ports[1]}"))
    try:
        demo.follow(demo.start(), echo=False)
        time.sleep(SECONDS)
    finally:
        demo.stop()
        sitl.stop()
    config = (tmp_path / "edge.toml").read_text()
    assert f'url = "tcp:127.0.0.1:{ports[1]}"' in config and 'gimbal_mode = "stabilised"' in config
    logs = {p.name: p.read_text(errors="replace")[-1500:] for p in tmp_path.glob("*.log")}
    result = demo.score()
    print(result.line())
    assert result.fixes >= 10, (result, logs)  # 13-40 in 45 s, as the machine is loaded (the model runs 3-8 fps)
    assert result.median_m <= 6.0, result
