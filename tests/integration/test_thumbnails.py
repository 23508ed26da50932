"""Thumbnails on request, end to end: `edge sim` -> `edge run` -> a Mosquitto with password users and an ACL.

The centre (user ``centre``, allowed by the ACL to publish on ``edge/<vehicle>/cmd/thumbnail/centre``) asks for the
best crop of a live track over an uplink budget of 2 kB/s: the image arrives within the byte limit, decodes, and
the target's box from the simulator's truth lies inside the crop; no new-track alert is delayed by more than a
second meanwhile. `edge listen --images` writes the same image. A requester the ACL does not allow gets nothing (the broker refuses and logs it); requests for
crops that expired or were never kept get their answer; every request is in the audit log, also at the centre.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cbor2
import cv2
import numpy as np
import paho.mqtt.client as mqtt
import pytest

from bench.localbroker import LocalBroker
from bench.waits import wait_for
from centre.store import open_store
from centre.thumbnails import assemble
from edge.thumbs.wire import Image, Reassembler
from edge.types import EventKind
from edge.uplink.codec import CodecError, decode
from sim.demo import REPO, daemon_config, free_port
from sim.render import Renderer
from sim.scenario import load_scenario
from sim.world import World

pytestmark = pytest.mark.integration
SCENARIO = str(REPO / "sim" / "scenarios" / "drone-border.toml")
VEHICLE = "demo-01"
KEY = "11" * 32
LIMIT = 3000  # bytes the centre allows one image
PASSWORDS = {"edge": "edge-pw", "centre": "centre-pw", "intruder": "intruder-pw"}


class Centre:
    """An MQTT v5 client as the centre sees the vehicle: every message with its arrival time."""

    def __init__(self, port: int, user: str) -> None:
        self.messages: list[tuple[float, str, bytes]] = []
        self.pubacks: dict[int, int] = {}
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-{user}", protocol=mqtt.MQTTv5)
        self.client.username_pw_set(user, PASSWORDS[user])
        self.client.on_message = lambda _c, _u, m: self.messages.append((time.time(), m.topic, bytes(m.payload)))
        self.client.on_publish = lambda _c, _u, mid, rc, _p: self.pubacks.__setitem__(mid, int(rc.value))
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(f"edge/{VEHICLE}/#", qos=1)
        self.client.loop_start()

    def ask(self, user: str, **request: Any) -> int:
        # the last topic level names the requester: the broker's ACL lets each user write only under its own name
        info = self.client.publish(f"edge/{VEHICLE}/cmd/thumbnail/{user}", json.dumps(request), qos=1)
        return info.mid

    def on(self, kind: str) -> list[tuple[float, bytes]]:
        return [(t, p) for t, topic, p in list(self.messages) if topic == f"edge/{VEHICLE}/{kind}"]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[LocalBroker]:
    d = tmp_path / "broker"
    d.mkdir()
    for i, (user, pw) in enumerate(PASSWORDS.items()):
        flag = ["-c"] if i == 0 else []
        subprocess.run(["mosquitto_passwd", "-b", *flag, str(d / "passwd"), user, pw], check=True, timeout=10)
    (d / "acl").write_text(
        f"user edge\ntopic write edge/{VEHICLE}/#\ntopic read edge/{VEHICLE}/cmd/#\n"
        f"user centre\ntopic read edge/#\ntopic write edge/+/cmd/thumbnail/centre\n"
        f"user intruder\ntopic read edge/{VEHICLE}/status\n"
    )
    with LocalBroker(d, f"password_file {d}/passwd\nacl_file {d}/acl\nlog_type all\n", anonymous=False) as b:
        yield b


def _spawn(
    tmp_path: Path, name: str, args: list[str], env: dict[str, str], out: int | None = None, module: str = "edge"
) -> Any:
    log = open(tmp_path / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [sys.executable, "-m", module, *args], stdout=out or log, stderr=log, cwd=REPO, env=env, start_new_session=True
    )


def _centre_config(tmp_path: Path, port: int, user: str) -> Path:
    path = tmp_path / f"centre-{user}.toml"
    path.write_text(
        f'[store]\nurl = "sqlite://{tmp_path}/centre.db"\n'
        f'[mqtt]\nurl = "mqtt://127.0.0.1:{port}"\nusername = "{user}"\nclient_id = "centre-{user}"\n'
    )
    return path


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in reversed(procs):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=8)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def _alerts(messages: list[tuple[float, bytes]]) -> list[tuple[float, float, int, int]]:
    """(arrival, capture, class id, track id) of every new-track detection received (first copies)."""
    out, seen = [], set()
    for t, payload in messages:
        try:
            rec = decode(payload)
        except CodecError:
            continue
        if (rec.boot, rec.seq) in seen:
            continue
        seen.add((rec.boot, rec.seq))
        out += [(t, rec.t_utc, d.class_id, d.track_id) for d in rec.detections if d.kind == EventKind.NEW]
    return out


def _live_track(messages: list[tuple[float, bytes]]) -> int:
    """A track in the newest record received (still seen: its latest crop is renewed)."""
    for _, payload in reversed(messages):
        with contextlib.suppress(CodecError):
            dets = [d.track_id for d in decode(payload).detections if d.kind != EventKind.LOST]
            if dets:
                return dets[0]
    raise AssertionError("no record with a live track")


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return float(inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter))


def test_centre_asks_for_a_thumbnail_of_a_live_track(tmp_path: Path, broker: LocalBroker) -> None:
    env = {**os.environ, "EDGE_MQTT_PASSWORD": PASSWORDS["edge"], "EDGE_THUMBNAIL_KEY": KEY}
    mav_port = free_port()
    procs = [
        _spawn(tmp_path, "sim", ["sim", "--scenario", SCENARIO, "--http-port", str(free_port()), "--status-json",
                                 "--mavlink", f"udpout:127.0.0.1:{mav_port}"], env, subprocess.PIPE)
    ]  # fmt: skip
    centre = Centre(broker.port, "centre")
    intruder = Centre(broker.port, "intruder")
    try:
        assert procs[0].stdout is not None
        status = json.loads(procs[0].stdout.readline())
        extra = {
            "mqtt": {"username": "edge", "bytes_per_s": 2000.0, "burst_s": 1.0},
            "thumbnails": {"enabled": True, "max_age_s": 8.0, "classes": []},
        }
        cfg = daemon_config(tmp_path, SCENARIO, status, broker.port, mav_port, None, None, extra)
        procs.append(_spawn(tmp_path, "daemon", ["run", "--config", str(cfg)], env))
        listen = ["listen", "--broker", f"mqtt://127.0.0.1:{broker.port}", "--username", "centre", "--images",
                  str(tmp_path / "images"), "--report-s", "0"]  # fmt: skip
        procs.append(_spawn(tmp_path, "listen", listen, {**env, "EDGE_MQTT_PASSWORD": PASSWORDS["centre"]}))
        centre_env = {**env, "EDGE_CENTRE_MQTT_PASSWORD": PASSWORDS["centre"]}
        centre_cfg = str(_centre_config(tmp_path, broker.port, "centre"))
        procs.append(_spawn(tmp_path, "ingest", ["--config", centre_cfg, "ingest"], centre_env, module="centre"))
        logs = lambda: {p.name: p.read_text(errors="replace")[-3000:] for p in tmp_path.glob("*.log")}  # noqa: E731
        assert wait_for(lambda: _alerts(centre.on("detections")), 90), logs()
        first = _alerts(centre.on("detections"))[0]
        time.sleep(1.5)  # its crops are stored

        def answers() -> dict[str, dict[str, Any]]:
            out = {}
            for _, p in centre.on("thumbnail"):
                m = cbor2.loads(p)
                if m["t"] == "answer":
                    out[m["id"]] = m
            return out

        def images() -> dict[str, Image]:
            asm = Reassembler()
            done = [asm.add(VEHICLE, p) for _, p in centre.on("thumbnail")]
            return {g.meta["id"]: g for g in done if isinstance(g, Image)}

        # the centre asks for the best crop of a live track; then, to keep the link busy until a new track appears
        # (its alert must not wait), for the latest crops of the tracks seen so far, again while none appeared
        t_ask = time.time()
        centre.ask("centre", id="c1", track=first[3], frame="best", max_bytes=LIMIT)
        more: list[str] = []

        def all_in() -> bool:
            ans, imgs = answers(), images()
            return "c1" in imgs and all(r in ans and (ans[r]["status"] != "ok" or r in imgs) for r in more)

        deadline = time.monotonic() + 150
        while not (all_in() and [a for a in _alerts(centre.on("detections")) if a[0] >= t_ask]):
            assert time.monotonic() < deadline, ([cbor2.loads(p) for _, p in centre.on("thumbnail")][-3:], logs())
            if all_in():
                for a in _alerts(centre.on("detections"))[-4:]:
                    more.append(f"more{len(more)}")
                    centre.ask("centre", id=more[-1], track=a[3], frame="latest", max_bytes=2 * LIMIT)
            time.sleep(0.5)
        t_done = time.time()
        got = images()["c1"]
        files = lambda: list((tmp_path / "images").glob("*-c1.jpg"))  # noqa: E731
        assert wait_for(files, 10), logs()  # `edge listen --images` wrote it too
        assert files()[0].read_bytes() == got.data

        # an intruder's request is refused by the broker: nothing reaches the vehicle
        mid = intruder.ask("intruder", id="x1", track=first[3], max_bytes=LIMIT)
        assert wait_for(lambda: mid in intruder.pubacks, 10)
        assert intruder.pubacks[mid] == 0x87  # not authorized

        # requests for a crop never kept and (later) for crops that expired get answers
        centre.ask("centre", id="c2", track=999_999, max_bytes=LIMIT)
        time.sleep(12)  # beyond max_age_s: the crops of tracks not renewed since are gone
        old = {a[3] for a in _alerts(centre.on("detections")) if a[0] < t_ask}
        for tr in old:
            centre.ask("centre", id=f"old-{tr}", track=tr, frame="best", max_bytes=LIMIT)

        assert wait_for(lambda: "c2" in answers() and all(f"old-{t}" in answers() for t in old), 30), answers()
        assert all(len(images()[r].data) <= 2 * LIMIT for r in more if r in images())
        # `edge-centre thumbnail` asks as the centre's user; the image lands in the centre's store through ingest
        live = _live_track(centre.on("detections"))
        ask = [sys.executable, "-m", "centre", "--config", centre_cfg, "thumbnail", VEHICLE, str(live)]
        done = subprocess.run([*ask, "--frame", "latest"], env=centre_env, capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        store = open_store(f"sqlite://{tmp_path}/centre.db")
        at_centre = lambda: [a for a in assemble(store.thumbnail_parts())[0] if a.get("frame") == "latest"]  # noqa: E731
        assert wait_for(lambda: at_centre() and at_centre()[0]["complete"], 30), logs()
        bad_cfg = str(_centre_config(tmp_path, broker.port, "intruder"))
        bad_env = {**env, "EDGE_CENTRE_MQTT_PASSWORD": PASSWORDS["intruder"]}
        bad = subprocess.run(
            [sys.executable, "-m", "centre", "--config", bad_cfg, "thumbnail", VEHICLE, "1"],
            env=bad_env, capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert bad.returncode == 1 and "the broker refused the request" in bad.stderr, bad.stderr
        assert wait_for(lambda: len([cbor2.loads(p) for _, p in centre.on("audit")]) >= 3 + len(old), 20)
        logged = [(u, a) for _, u, a, _ in store.audit_log()]
        assert ("demo-01:centre", "vehicle thumbnail request: ok") in logged  # the vehicle's audit, at the centre
        store.close()
        audit = [cbor2.loads(p) for _, p in centre.on("audit")]
        alerts = _alerts(centre.on("detections"))
    finally:
        centre.close()
        intruder.close()
        _stop(procs)

    # the image: within the limit, decodes, and the truth's box of the target lies inside the crop
    assert len(got.data) <= LIMIT and got.meta["bytes"] == len(got.data)
    img = cv2.imdecode(np.frombuffer(got.data, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None and (img.shape[1], img.shape[0]) == tuple(got.meta["wh"])
    world = World(load_scenario(SCENARIO), seed=status.get("seed"))
    _, truth = Renderer(world).render(got.meta["t_utc"] - status["t0_utc"])
    w, h = world.camera.width, world.camera.height
    rx1, ry1, rx2, ry2 = (v * s for v, s in zip(got.meta["region"], (w, h, w, h), strict=True))
    bx1, by1, bx2, by2 = got.meta["box"]  # the detection, in the crop
    det = np.array([rx1 + bx1 * (rx2 - rx1), ry1 + by1 * (ry2 - ry1), rx1 + bx2 * (rx2 - rx1), ry1 + by2 * (ry2 - ry1)])
    target = max(truth.boxes, key=lambda b: _iou(b, det))  # the true target the detection is of
    assert _iou(target, det) > 0.3, (got.meta, truth.boxes.round(1).tolist())
    tol = 2.0  # px
    assert target[0] >= rx1 - tol and target[1] >= ry1 - tol and target[2] <= rx2 + tol and target[3] <= ry2 + tol

    # no new-track alert was delayed by more than a second while the image went out
    base = [t - c for t, c, _, _ in alerts if t < t_ask]
    during = [t - c for t, c, _, _ in alerts if t_ask <= t <= t_done]
    print(f"thumbnails: {len(got.data)} B and {len(more)} more in {t_done - t_ask:.1f} s; alerts before: {len(base)}, median "
          f"{statistics.median(base):.2f} s; during: {len(during)}, max {max(during, default=0):.2f} s")  # fmt: skip
    assert during, "no new track appeared while the images went out"
    assert all(d <= statistics.median(base) + 1.0 for d in during), (base, during)

    # the answers, and the audit at the centre: who asked, when, what was sent
    ans = answers()
    assert ans["c2"]["status"] == "unknown"
    assert {ans[f"old-{t}"]["status"] for t in old} <= {"ok", "expired"} and any(
        ans[f"old-{t}"]["status"] == "expired" for t in old
    ), ans
    by_id = {a["request"].get("id"): a for a in audit}
    assert by_id["c1"]["requester"] == "centre" and by_id["c1"]["sent"]["sha256"] == got.meta["sha256"]
    assert "x1" not in by_id  # the broker kept the intruder's request from the vehicle ...
    assert "Denied PUBLISH from test-intruder" in broker.log.read_text()  # ... and logged the refusal
