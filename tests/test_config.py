"""Config loading: errors name the file and the dotted key; every field is titled and defaulted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from edge.config import Config, ConfigError, load_config

REPO = Path(__file__).resolve().parents[1]


def _write(tmp_path: Path, text: str) -> Path:
    """``text`` as edge.toml in ``tmp_path``, the model set to the repo's unless the text has a [detector]."""
    p = tmp_path / "edge.toml"
    p.write_text(
        text if "[detector]" in text else f'detector.model = "{REPO / "models" / "edge-default.onnx"}"\n{text}'
    )
    return p


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    (tmp_path / "edge.toml").write_text("")
    cfg = load_config(tmp_path / "edge.toml", check_files=False)
    assert cfg.model_copy(update={"detector": Config().detector}) == Config()
    assert cfg.detector.model == str(tmp_path / "models" / "edge-default.onnx")


def test_relative_file_paths_are_relative_to_the_config(tmp_path: Path) -> None:
    text = '[detector]\nmodel = "m/x.onnx"\n[geo]\ndem_path = "/srv/dem"\ncalibration_file = "cal.yaml"\n'
    text += '[mqtt]\ncafile = "pki/ca.pem"\n'
    (tmp_path / "etc").mkdir()
    cfg = load_config(_write(tmp_path / "etc", text), check_files=False)
    assert cfg.detector.model == str(tmp_path / "etc" / "m" / "x.onnx")
    assert cfg.geo.dem_path == "/srv/dem"  # absolute: unchanged
    assert cfg.geo.calibration_file == str(tmp_path / "etc" / "cal.yaml")
    assert cfg.mqtt.cafile == str(tmp_path / "etc" / "pki" / "ca.pem")
    assert cfg.mqtt.certfile == ""  # unset stays unset


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[vehicle]\nidd = 'x'\n", "vehicle.idd: unknown key"),
        ("[nosuchsection]\n", "nosuchsection: unknown key"),
        ("[ops]\nstatus_interval_s = 'soon'\n", "ops.status_interval_s: Input should be a valid number"),
        ("[ops]\nstatus_interval_s = -1\n", "ops.status_interval_s: Input should be greater than 0"),
        ("[vehicle]\nid = 'has space'\n", "vehicle.id: String should match pattern"),
        ("[vehicle]\nkind = 'boat'\n", "vehicle.kind: Input should be 'drone' or 'mss'"),
        ("[mqtt]\nreconnect_min_s = 5\n", "mqtt.reconnect_min_s: 5.0 is above reconnect_max_s (1.0)"),
    ],
)
def test_bad_key_is_named_with_file(tmp_path: Path, text: str, expected: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert any(line.startswith(f"{path}: {expected}") for line in exc.value.problems), exc.value.problems


def test_every_problem_is_reported(tmp_path: Path) -> None:
    path = _write(tmp_path, "[vehicle]\nidd = 1\nkind = 'boat'\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert len(exc.value.problems) == 2


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml: file not found"):
        load_config(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(_write(tmp_path, "[vehicle\n"))


def _sections(model: type[BaseModel], path: str = "") -> list[tuple[str, type[BaseModel]]]:
    out = [(path or "(root)", model)]
    for name, info in model.model_fields.items():
        ann = info.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out += _sections(ann, f"{path}.{name}" if path else name)
    return out


def test_every_field_has_title_and_default() -> None:
    missing = []
    for path, model in _sections(Config):
        assert model.model_config.get("extra") == "forbid", f"{path} must forbid unknown keys"
        for name, info in model.model_fields.items():
            if not info.title:
                missing.append(f"{path}.{name}: no title")
            if info.is_required():
                missing.append(f"{path}.{name}: no default")
    assert not missing, missing


def _check_config(path: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge", "check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_check_config_cli_exit_codes(tmp_path: Path) -> None:
    etc = tmp_path / "etc"  # the example installed as /etc/edge/edge.toml beside models/edge-default.onnx
    (etc / "models").mkdir(parents=True)
    (etc / "models" / "edge-default.onnx").symlink_to(REPO / "models" / "edge-default.onnx")
    example = etc / "edge.toml"
    example.write_bytes((REPO / "systemd" / "edge.toml").read_bytes())
    ok = _check_config(example, {"STATE_DIRECTORY": str(tmp_path / "state")})
    assert ok.returncode == 0, ok.stderr
    bad = _check_config(_write(tmp_path, "[mqtt]\nurll = 'x'\n[ops]\nstatus_interval_s = 'x'\n"))
    assert bad.returncode == 2
    assert "mqtt.urll: unknown key" in bad.stderr
    assert "ops.status_interval_s:" in bad.stderr
    missing = _check_config(tmp_path / "absent.toml")
    assert missing.returncode == 2
    assert "absent.toml: file not found" in missing.stderr


def test_a_control_character_in_a_value_stays_on_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, '[console]\nbasemap = "map\\n.mbtiles\\u202e"\n')
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert exc.value.problems == [f"{path}: console.basemap: {tmp_path}/map\\n.mbtiles\\u202e: no such file"]
