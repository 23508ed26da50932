from __future__ import annotations

from pathlib import Path

from centre.config import load_centre_config

REPO = Path(__file__).resolve().parents[2]


def test_the_shipped_example_config_loads() -> None:
    cfg = load_centre_config(REPO / "systemd" / "centre.toml")
    assert cfg.store.url.startswith("postgresql://") and cfg.retention.days["person"] == 30.0
