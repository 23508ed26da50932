"""The whole chain as `make demo` runs it, scored against the simulator's truth.

Simulator (MJPEG camera over HTTP + MAVLink autopilot over UDP) -> `edge run` with the default model -> Mosquitto ->
`edge listen`; every received fix is compared with where the nearest target of its class truly was at the
detection's capture time. This catches what no unit test sees: capture timestamps, pose timing, box-to-ground
geometry, the codec's rounding and the daemon's config for the camera.
"""

from __future__ import annotations

import time
from pathlib import Path

from sim.demo import REPO, Demo

SCENARIO = REPO / "sim" / "scenarios" / "drone-border.toml"
SECONDS = 45.0


def test_drone_border_fixes_match_the_truth(tmp_path: Path) -> None:
    demo = Demo(str(SCENARIO), tmp_path)
    try:
        demo.follow(demo.start(), echo=False)
        time.sleep(SECONDS)
    finally:
        demo.stop()
    logs = {p.name: p.read_text(errors="replace")[-2000:] for p in tmp_path.glob("*.log")}
    result = demo.score()
    print(result.line())
    assert result.fixes >= 100, (result, logs)
    # fixes land on real targets of their class (the rest are the detector's false positives) ...
    assert result.unmatched <= 0.15 * result.fixes, result
    # ... close to them (eval-geo with the scenario's sensor noise: ~2.4 m median), with an honest error radius
    assert result.median_m <= 5.0 and result.p90_m <= 12.0, result
    assert result.coverage90 >= 0.8, result
