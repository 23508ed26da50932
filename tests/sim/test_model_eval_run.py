"""``edge model eval`` on a shipped scenario with the committed model, and with a deliberately wrong one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from sim.model_eval import main

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "edge-default.onnx"
SCENARIO = ROOT / "sim" / "scenarios" / "drone-border.toml"
ARGS = ["--scenario", str(SCENARIO), "--frames", "4", "--seed", "7", "--json"]


def _run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, dict]:
    rc = main(argv)
    return rc, json.loads(capsys.readouterr().out)


def shifted_model(src: Path, dst: Path, dx: float) -> None:
    """A copy of ``src`` whose box centres are moved ``dx`` input pixels to the right (YOLOv8 layout)."""
    m = onnx.load(str(src))
    out = m.graph.output[0].name
    for node in m.graph.node:
        node.output[:] = [f"{o}_raw" if o == out else o for o in node.output]
    shift = np.zeros((1, m.graph.output[0].type.tensor_type.shape.dim[1].dim_value, 1), np.float32)
    shift[0, 0, 0] = dx
    m.graph.initializer.append(numpy_helper.from_array(shift, "box_shift"))
    m.graph.node.append(helper.make_node("Add", [f"{out}_raw", "box_shift"], [out]))
    onnx.checker.check_model(m)
    onnx.save(m, str(dst))


def test_eval_reports_sane_json(capsys: pytest.CaptureFixture[str]) -> None:
    rc, rep = _run(capsys, ["--model", str(MODEL), *ARGS])
    assert rc == 0
    assert rep["frames"] == 4 and rep["seed"] == 7 and rep["mode"] == "day" and rep["min_height_px"] == 16
    assert set(rep["classes"]) == {"person", "vehicle", "boat"}
    for s in [*rep["classes"].values(), rep["all"]]:
        assert s["tp"] + s["fn"] == s["targets"]
        for key in ("precision", "recall", "mean_iou"):
            assert s[key] is None or 0.0 <= s[key] <= 1.0
    total = rep["all"]
    assert total["targets"] == sum(s["targets"] for s in rep["classes"].values()) > 0
    assert total["recall"] >= 0.5 and total["precision"] >= 0.5 and total["mean_iou"] >= 0.5


def test_a_wrong_model_fails_the_eval(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "shifted.onnx"
    shifted_model(MODEL, bad, dx=40.0)  # well beyond any target's width: no box keeps IoU >= 0.5
    rc, rep = _run(capsys, ["--model", str(bad), *ARGS, "--min-recall", "0.9"])
    assert rc == 1
    assert rep["all"]["tp"] == 0 and rep["all"]["recall"] == 0.0 and rep["all"]["fp"] > 0


def test_missing_files_are_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--model", str(tmp_path / "none.onnx"), "--scenario", str(SCENARIO)]) == 2
    assert "no such file" in capsys.readouterr().err


def test_daemon_detector_settings_apply(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "edge.toml"
    cfg.write_text("[detector]\nconf_threshold = 0.5\n[detector.tiling]\ncols = 2\nrows = 2\nfull_frame = false\n")
    rc, rep = _run(capsys, ["--model", str(MODEL), *ARGS, "--config", str(cfg)])
    assert rc == 0
    assert rep["tiling"]["cols"] == 2 and rep["tiling"]["rows"] == 2 and rep["conf_threshold"] == 0.5
    cfg.write_text("[detector]\nconf_treshold = 0.5\n")
    assert main(["--model", str(MODEL), *ARGS, "--config", str(cfg)]) == 2
    assert "detector.conf_treshold: unknown key" in capsys.readouterr().err


def test_the_scenarios_own_tiles_apply_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    ridge = ["--scenario", str(ROOT / "sim" / "scenarios" / "mss-ridge.toml"), "--frames", "1", "--json"]
    rc, rep = _run(capsys, ["--model", str(MODEL), *ridge])  # a 1280 px mast camera: the demo's daemon tiles 2 x 2
    assert rc == 0 and (rep["tiling"]["cols"], rep["tiling"]["rows"]) == (2, 2)
    rc, rep = _run(capsys, ["--model", str(MODEL), *ARGS[:2], "--frames", "1", "--json"])
    assert rc == 0 and (rep["tiling"]["cols"], rep["tiling"]["rows"]) == (1, 1)
