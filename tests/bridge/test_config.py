"""The example config documents every key; bad configs and keys give clear errors and exit code 2."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from fwbridge.config import BridgeConfigError, BridgeSettings, EndpointSettings, SerialSettings, load_bridge_config

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "firmware-bridge" / "bridge.toml"
UNIT = REPO / "systemd" / "edge-bridge.service"


@pytest.mark.parametrize("model", [BridgeSettings, SerialSettings, EndpointSettings])
def test_example_documents_every_key(model):
    text = EXAMPLE.read_text()
    documented = set(re.findall(r"^#? ?([a-z_]+) = ", text, flags=re.M))
    assert set(model.model_fields) <= documented, set(model.model_fields) - documented


def test_example_parses():
    cfg = load_bridge_config(EXAMPLE)
    assert [e.mode for e in cfg.endpoint] == ["udp-client", "udp-server", "tcp-server"]
    assert cfg.endpoint[0].signing == "require" and cfg.endpoint[0].bytes_per_s == 5760.0


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[bridge]\nheartbeat = 1\n", "bridge.heartbeat: unknown key"),
        ('[[endpoint]]\nname = "a"\nsigning = "require"\n', "needs key_credential or key_file"),
        (
            '[serial]\npath = "/dev/ttyACM0"\n[[endpoint]]\nname = "fc"\n',
            "endpoint.0.name: link name 'fc' is already used by serial.name",
        ),
        (
            '[[endpoint]]\nname = "gcs"\n[[endpoint]]\nname = "gcs"\nport = 14551\n',
            "endpoint.1.name: link name 'gcs' is already used by endpoint.0.name",
        ),
        ('[[endpoint]]\nmode = "serial"\n', "endpoint.0.mode"),
        ("[serial\n", "not valid TOML"),
    ],
)
def test_bad_config_names_file_and_key(tmp_path: Path, toml: str, message: str):
    p = tmp_path / "b.toml"
    p.write_text(toml)
    with pytest.raises(BridgeConfigError, match=re.escape(message)) as err:
        load_bridge_config(p)
    assert str(p) in str(err.value)


def test_endpoint_may_be_named_fc_when_no_serial_port_is_configured(tmp_path: Path):
    p = tmp_path / "b.toml"
    p.write_text('[[endpoint]]\nname = "fc"\nmode = "tcp-client"\nport = 5760\n')
    cfg = load_bridge_config(p)
    assert [(e.name, e.mode) for e in cfg.endpoint] == [("fc", "tcp-client")]


def test_cli_check_refuses_world_readable_key(tmp_path: Path):
    key = tmp_path / "k"
    key.write_text("00" * 32)
    key.chmod(0o644)
    cfg = tmp_path / "b.toml"
    cfg.write_text(f'[[endpoint]]\nname = "gcs"\nmode = "tcp-server"\nsigning = "sign"\nkey_file = "{key}"\n')
    res = subprocess.run(
        [sys.executable, "-m", "fwbridge.cli", "--check", "-c", str(cfg)], capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 2 and "accessible by group/others (mode 0644)" in res.stderr
    key.chmod(0o600)
    res = subprocess.run(
        [sys.executable, "-m", "fwbridge.cli", "--check", "-c", str(cfg)], capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0, res.stderr


def test_unit_file_directives():
    text = UNIT.read_text()
    for line in (
        "Type=notify",
        "Restart=on-failure",
        "Before=edge.service",
        "SupplementaryGroups=dialout\n",
        "DynamicUser=yes",
        "NoNewPrivileges=yes",
    ):
        assert line in text, line
    assert re.search(r"^WatchdogSec=\d+", text, re.M)
