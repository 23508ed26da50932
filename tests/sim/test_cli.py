"""`edge sim` argument handling in-process: bad input exits 2 with a clear message; --eval-geo is delegated."""

from __future__ import annotations

import json
import sys
import time
import types
from pathlib import Path

import pytest

from sim import cli

BORDER = Path(__file__).resolve().parents[2] / "sim" / "scenarios" / "drone-border.toml"


def test_needs_a_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--duration", "1", "--http-port", "0"]) == 2
    assert "give --scenario FILE" in capsys.readouterr().err


def test_missing_replay_folder_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--replay", str(tmp_path / "nope"), "--http-port", "0"]) == 2
    assert f"{tmp_path / 'nope'}: not a simulator recording" in capsys.readouterr().err


def test_record_and_replay_together_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--replay", str(tmp_path), "--record", str(tmp_path / "r"), "--http-port", "0"]) == 2
    assert "cannot be combined" in capsys.readouterr().err


def test_missing_pose_log_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sitl = types.ModuleType("sim.sitl")
    sitl.pose_follower = lambda source: lambda t: None  # type: ignore[attr-defined]
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(sys.modules, "sim.sitl", sitl)
        rc = cli.main(["--scenario", str(BORDER), "--pose-log", str(tmp_path / "x.tlog"), "--http-port", "0"])
    assert rc == 2
    assert "--pose-log: no such file" in capsys.readouterr().err


def test_a_module_another_engineer_has_not_written_is_a_clear_error() -> None:
    with pytest.raises(cli.SimError, match=r"--thing needs sim\.no_such_piece \(sim/no_such_piece\.py\)"):
        cli._optional("sim.no_such_piece", "--thing")


def test_eval_geo_gets_the_whole_argv(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []
    fake = types.ModuleType("sim.eval_geo")

    def fake_main(argv: list[str]) -> int:
        seen.append(argv)
        return 7

    fake.main = fake_main  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sim.eval_geo", fake)
    argv = ["--scenario", "x.toml", "--eval-geo", "--frames", "3"]
    assert cli.main(argv) == 7
    assert seen == [argv]


def test_port_in_use_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert cli.main(["--scenario", str(BORDER), "--http-port", str(port), "--duration", "1"]) == 2
    assert f"--http-port {port}: cannot listen" in capsys.readouterr().err


def test_a_tlog_without_poses_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("sim.sitl")
    empty = tmp_path / "empty.tlog"
    empty.write_bytes(b"")
    assert cli.main(["--scenario", str(BORDER), "--pose-log", str(empty), "--http-port", "0", "--duration", "1"]) == 2
    assert "--pose-log: " in capsys.readouterr().err


def test_bad_mavlink_url_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("sim.autopilot")
    assert cli.main(["--scenario", str(BORDER), "--http-port", "0", "--duration", "1", "--mavlink", "bogus:1"]) == 2
    assert "--mavlink: cannot start" in capsys.readouterr().err


def test_vehicle_and_start_utc_are_checked(capsys: pytest.CaptureFixture[str]) -> None:
    pair = BORDER.with_name("border-pair.toml")
    assert cli.main(["--scenario", str(pair), "--vehicle", "nope", "--http-port", "0", "--duration", "1"]) == 2
    assert "vehicles: no vehicle named 'nope' (have: drone-south, drone-north)" in capsys.readouterr().err
    future = str(time.time() + 3600)
    assert cli.main(["--scenario", str(pair), "--start-utc", future, "--http-port", "0", "--duration", "1"]) == 2
    assert "must not be in the future" in capsys.readouterr().err


def test_start_utc_sets_sim_time_zero(capsys: pytest.CaptureFixture[str]) -> None:
    """Two simulators given one --start-utc share sim time 0: each reports it as t0_utc."""
    pair = BORDER.with_name("border-pair.toml")
    start = time.time() - 30.0
    args = ["--scenario", str(pair), "--vehicle", "drone-north", "--start-utc", repr(start), "--http-port", "0"]
    assert cli.main([*args, "--duration", "0.3", "--status-json"]) == 0
    status = json.loads(capsys.readouterr().out.splitlines()[0])
    assert status["t0_utc"] == pytest.approx(start, abs=0.05)
