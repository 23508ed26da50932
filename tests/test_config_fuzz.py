"""Property test over the config schema: configs generated from the pydantic models — valid values, values of the
wrong type, out of range, non-finite, with NUL bytes, random structures, unknown keys — are either accepted (then
holding only finite numbers and NUL-free strings) or refused with ``FILE: key: reason`` lines naming a key, never
with another exception; and `edge check-config` and `edge run` (real processes, a few examples) agree: the same
refusal lines, or both accept."""

from __future__ import annotations

import json
import math
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import types
import typing
from pathlib import Path
from typing import Any

import annotated_types as at
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from edge.check_config import check
from edge.config import Config, ConfigError

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "models" / "edge-default.onnx"
KEY = re.compile(r"^[A-Za-z0-9_.\-\[\]]+( / [A-Za-z0-9_.\-\[\]]+)*( \(\$STATE_DIRECTORY\))?$")

# -- values ------------------------------------------------------------------------------------------------------
NAMES = st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
NASTY_STR = st.sampled_from(["", "\x00", "a\x00b", "/nonexistent/x", "..", "mqtt://", "udpin:", "é\u202e", "-1"])
NASTY_NUM = st.sampled_from([math.inf, -math.inf, math.nan, 0, -1, 1e308, -1e308, 2**63 - 1, -(2**63), 0.5])
SCALAR = st.one_of(st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(), TEXT, NASTY_STR, NASTY_NUM)
GARBAGE = st.recursive(
    SCALAR,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(NAMES, inner, max_size=3)),
    max_leaves=8,
)


def _bounds(meta: list[Any]) -> tuple[float | None, float | None]:
    lo = hi = None
    for m in meta:
        if isinstance(m, at.Ge | at.Gt):
            lo = float(getattr(m, "ge", getattr(m, "gt", 0)))
        if isinstance(m, at.Le | at.Lt):
            hi = float(getattr(m, "le", getattr(m, "lt", 0)))
    return lo, hi


def _valid(ann: Any, meta: list[Any], default: Any) -> st.SearchStrategy[Any]:
    """Values of type ``ann`` that are probably valid (within the field's bounds, or its default)."""
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin is typing.Annotated:
        return _valid(args[0], [*meta, *[x for a in args[1:] for x in getattr(a, "metadata", [a])]], default)
    if origin in (typing.Union, types.UnionType):
        return st.one_of(*[_valid(a, meta, default) for a in args if a is not type(None)])
    if origin is typing.Literal:
        return st.sampled_from(args)
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return _section(ann)
    if ann is bool:
        return st.booleans()
    if ann in (int, float):
        lo, hi = _bounds(meta)
        lo, hi = -1e6 if lo is None else lo, 1e6 if hi is None else hi
        if ann is int:
            return st.integers(math.ceil(lo), math.floor(min(hi, 2**31)))
        return st.floats(lo, hi, allow_nan=False, allow_infinity=False)
    if origin in (list, tuple):
        inner = args[0] if args else Any
        return st.lists(_valid(inner, [], None), max_size=4)
    if origin is dict:
        return st.dictionaries(NAMES, _valid(args[1], [], None), max_size=3)
    return st.just(default) if isinstance(default, str) else TEXT


def _field(ann: Any, meta: list[Any], default: Any) -> st.SearchStrategy[Any]:
    """Mostly plausible values, sometimes the wrong type, out of range, non-finite, NUL-bearing or garbage."""
    good = _valid(ann, meta, default)
    bad = [GARBAGE] if isinstance(ann, type) and issubclass(ann, BaseModel) else [NASTY_NUM, NASTY_STR, GARBAGE]
    return _mostly(good, bad, 20)


def _mostly(good: st.SearchStrategy[Any], bad: list[st.SearchStrategy[Any]], odds: int) -> st.SearchStrategy[Any]:
    """``good`` about ``odds`` times in ``odds + 1``, else one of ``bad`` (shrinking towards ``good``)."""
    return st.sampled_from(range(odds + 1)).flatmap(lambda i: bad[i % len(bad)] if i == odds else good)


def _section(model: type[BaseModel]) -> st.SearchStrategy[dict[str, Any]]:
    fields = {
        name: st.deferred(lambda i=info: _field(i.annotation, list(i.metadata), i.default))
        for name, info in model.model_fields.items()
    }
    chosen = st.fixed_dictionaries({}, optional=fields)
    unknown = st.dictionaries(NAMES, GARBAGE, max_size=1)
    return st.tuples(chosen, _mostly(st.just({}), [unknown], 40)).map(lambda t: {**t[0], **t[1]})


def _with_base(doc: dict[str, Any], state: str) -> dict[str, Any]:
    """``doc`` over a config that can run here (the repo's model, a state directory under tmp)."""
    vehicle, detector = doc.get("vehicle"), doc.get("detector")
    out = dict(doc)
    if isinstance(vehicle, dict) or vehicle is None:
        out["vehicle"] = {"state_dir": state, **(vehicle or {})}
    if isinstance(detector, dict) or detector is None:
        out["detector"] = {"model": str(MODEL), **(detector or {})}
    return out


DOCS = _section(Config)


# -- TOML --------------------------------------------------------------------------------------------------------
def _toml(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v) if -(2**63) <= v < 2**63 else json.dumps(str(v))
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {_toml(x)}" for k, x in v.items()) + " }"
    raise TypeError(type(v))


def _write(doc: dict[str, Any], folder: Path) -> Path:
    path = folder / "edge.toml"
    path.write_text("".join(f"{json.dumps(k)} = {_toml(v)}\n" for k, v in doc.items()), encoding="utf-8")
    return path


def _assert_named(path: Path, problems: list[str], doc: dict[str, Any]) -> None:
    assert problems
    for line in problems:
        assert line.isprintable() and line.startswith(f"{path}: "), line
        key, sep, reason = line[len(f"{path}: ") :].partition(": ")
        assert sep and reason and KEY.match(key), line
        section = re.split(r"[.\[ ]", key)[0]
        assert section in Config.model_fields or section in doc or key == "(top level)", line


# -- in-process: every generated config is accepted or refused by key -----------------------------------------------
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(DOCS)
def test_check_accepts_or_names_the_key(doc: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        full = _with_base(doc, str(Path(tmp) / "state"))
        path = _write(full, Path(tmp))
        try:
            cfg = check(path)
        except ConfigError as err:
            _assert_named(path, err.problems, full)
        else:
            _assert_sane(cfg.model_dump())


def _assert_sane(value: Any, key: str = "") -> None:
    """What a config accepts: finite numbers and strings without NUL bytes, all the way down."""
    if isinstance(value, float):
        assert math.isfinite(value), f"{key} = {value} accepted"
    elif isinstance(value, str):
        assert "\x00" not in value, f"{key} = {value!r} accepted"
    elif isinstance(value, dict):
        for k, v in value.items():
            _assert_sane(v, f"{key}.{k}")
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _assert_sane(v, f"{key}.{i}")


# -- real processes: check-config and run agree --------------------------------------------------------------------
HERMETIC = {"camera": {"url": ""}, "mavlink": {"url": ""}, "mqtt": {"url": ""}, "console": {"enabled": False}}


def _hermetic(doc: dict[str, Any]) -> dict[str, Any]:
    """No camera, link, broker or listening console: `edge run` must not reach out or bind ports in a test."""
    out = dict(doc)
    for section, keys in HERMETIC.items():
        out[section] = {**(doc[section] if isinstance(doc.get(section), dict) else {}), **keys}
    return out


def _run_until_running(path: Path) -> tuple[int, str]:
    """`edge run`: its exit code and output when it refuses; 0 and its output once it has told systemd's notify
    socket READY=1 (a socket of the test's own: readiness whatever ``log.level`` lets it print)."""
    ready = path.parent / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(ready))
    sock.settimeout(0.2)
    env = {k: v for k, v in os.environ.items() if k not in ("STATE_DIRECTORY", "NOTIFY_SOCKET")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge", "run", "--config", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
        env=env | {"NOTIFY_SOCKET": str(ready)},
    )
    assert proc.stdout is not None
    out: list[str] = []
    reader = threading.Thread(target=out.extend, args=(proc.stdout,), daemon=True)
    reader.start()
    deadline = time.monotonic() + 120
    try:
        while proc.poll() is None:
            assert time.monotonic() < deadline, "edge run neither refused nor started in 120 s:\n" + "".join(out)
            try:
                said = sock.recv(4096)
            except TimeoutError:
                continue
            if b"READY=1" in said:
                proc.terminate()
                proc.wait(timeout=30)
                reader.join(10)
                return 0, "".join(out)
        reader.join(10)
        return proc.returncode, "".join(out)
    finally:
        sock.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.integration
@settings(
    max_examples=6,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # no shrinking: each example costs two processes
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(DOCS)
def test_check_config_and_run_agree(doc: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        full = _hermetic(_with_base(doc, str(Path(tmp) / "state")))
        path = _write(full, Path(tmp))
        cc = subprocess.run(
            [sys.executable, "-m", "edge", "check-config", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=REPO,
            env={k: v for k, v in os.environ.items() if k != "STATE_DIRECTORY"},
        )
        rc, out = _run_until_running(path)
        assert "Traceback" not in cc.stderr + out, cc.stderr + out
        assert cc.returncode in (0, 2), cc.stderr
        assert rc == cc.returncode, f"check-config {cc.returncode}: {cc.stderr}\nrun {rc}: {out}"
        if rc == 2:
            assert cc.stderr.splitlines() == out.splitlines(), (cc.stderr, out)
            _assert_named(path, cc.stderr.splitlines(), full)
