"""`edge listen --images` against a real Mosquitto fed fuzzed thumbnail messages (seeded random bytes, mutated
chunks and answers, chunks of images never announced): the listener keeps running, counts them, writes the valid
image; a folder that goes away loses that image with an error line, not the listener."""

from __future__ import annotations

import hashlib
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cbor2
import paho.mqtt.client as mqtt
import pytest

from bench.localbroker import LocalBroker
from edge.thumbs import wire

pytestmark = pytest.mark.integration
IMAGE = b"\xff\xd8" + bytes(range(256)) * 12 + b"\xff\xd9"


def _image(req_id: str) -> list[bytes]:
    meta = {"boot": 5, "camera": "cam0", "track": 3, "frame": "best", "format": "jpeg", "bytes": len(IMAGE),
            "sha256": hashlib.sha256(IMAGE).hexdigest(), "chunks": 7}  # fmt: skip
    return [wire.answer(req_id, "centre", "ok", "7 chunks", **meta), *wire.chunks(req_id, "centre", IMAGE, 512)]


def _garbage(rnd: random.Random, n: int) -> list[bytes]:
    valid = _image("g")
    out = []
    for _ in range(n):
        p = bytearray(rnd.choice(valid))
        r = rnd.random()
        if r < 0.4:
            for _ in range(rnd.randint(1, 4)):
                p[rnd.randrange(len(p))] = rnd.randrange(256)
        elif r < 0.6:
            p = p[: rnd.randrange(len(p))]
        elif r < 0.8:
            p = bytearray(rnd.randbytes(rnd.randrange(300)))
        else:  # a chunk of an image nobody announced, at a number anywhere
            msg = {"t": "chunk", "id": f"x{rnd.randrange(500)}", "requester": "c", "n": rnd.randrange(-5, 2**20)}
            p = bytearray(cbor2.dumps({**msg, "data": rnd.randbytes(rnd.randrange(2000))}))
        out.append(bytes(p))
    return out


def _publish(port: int, payloads: list[bytes]) -> None:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    c.connect("127.0.0.1", port)
    c.loop_start()
    infos = [c.publish("edge/veh-1/thumbnail", p, qos=1) for p in payloads]
    for i in infos:
        i.wait_for_publish(10)
    c.disconnect()
    c.loop_stop()


def _wait(what: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if what():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


def test_listen_images_survives_fuzzed_thumbnail_messages(tmp_path: Path) -> None:
    folder = tmp_path / "images"
    with LocalBroker(tmp_path / "broker") as broker:
        cmd = [sys.executable, "-m", "edge", "listen", "--broker", f"mqtt://127.0.0.1:{broker.port}", "--images",
               str(folder), "--timeout", "60"]  # fmt: skip
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            time.sleep(2.0)  # subscribed
            _publish(broker.port, [*_garbage(random.Random(5), 2000), *_image("good")])
            assert _wait(lambda: list(folder.glob("*-good.jpg")), 30), "the valid image after the garbage"
            assert (next(folder.glob("*-good.jpg"))).read_bytes() == IMAGE
            shutil.rmtree(folder)
            folder.write_text("not a folder any more")
            _publish(broker.port, _image("lost"))
            time.sleep(2.0)
            folder.unlink()
            folder.mkdir()
            _publish(broker.port, _image("later"))
            assert _wait(lambda: list(folder.glob("*-later.jpg")), 30), "written again once the folder is back"
            assert proc.poll() is None, "the listener died"
        finally:
            proc.send_signal(signal.SIGINT)  # Ctrl-C: the summary lines
            _, err = proc.communicate(timeout=30)
    assert "Traceback" not in err, err[-3000:]
    assert f"-lost.jpg ({len(IMAGE)} bytes) not written" in err
    summary = [line for line in err.splitlines() if line.startswith("listen: images:")]
    assert summary and "2 written, 1 not written" in summary[0], summary
