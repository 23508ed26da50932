"""The unit files pass `systemd-analyze verify` and carry what the field install relies on."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_edge_service_directives() -> None:
    text = (REPO / "systemd" / "edge.service").read_text()
    for directive in (
        "Type=notify",
        "WatchdogSec=",
        "Restart=on-failure",
        "StateDirectory=edge",
        "LoadCredential=",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "DynamicUser=yes",
    ):
        assert directive in text, directive


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
@pytest.mark.parametrize("unit", sorted(p.name for p in (REPO / "systemd").glob("*.service")))
def test_systemd_analyze_verify(tmp_path: Path, unit: str) -> None:
    bindir = Path(sys.executable).parent
    text = (REPO / "systemd" / unit).read_text().replace("/usr/local/bin/", f"{bindir}/")
    (tmp_path / unit).write_text(text)
    res = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / unit)], capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0, res.stderr
