"""`edge --help` lists the commands; unknown commands are refused."""

from __future__ import annotations

import subprocess
import sys


def _edge(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge", *args], capture_output=True, text=True, timeout=60)


def test_help_lists_commands() -> None:
    res = _edge("--help")
    assert res.returncode == 0
    for cmd in ("run", "sim", "listen", "check-config", "model", "bench", "status"):
        assert f"\n  {cmd} " in res.stdout, cmd


def test_unknown_command() -> None:
    res = _edge("fly")
    assert res.returncode == 2
    assert "invalid choice" in res.stderr


def test_model_subcommands_listed() -> None:
    res = _edge("model")
    assert res.returncode == 2
    assert "inspect" in res.stdout and "eval" in res.stdout
