"""Recording a simulator run and reading it back.

A recording is a folder::

    meta.json        scenario name, camera (width, height, hfov_deg, fps, mode), frame count, image format
    scenario.toml    copy of the scenario file
    frames/NNNNNN.jpg   day frames (JPEG; ``.png`` with image_format="png"); thermal: 16-bit ``.png``
    truth.jsonl      one JSON object per frame: index, file, t (sim s), t_wall (POSIX s), t_mono, and the
                     GroundTruth fields (pose, boxes, target_ids, class_ids, lat, lon, alt, ...)
    mavlink.tlog     what the simulated autopilot sent (pymavlink tlog: 8-byte big-endian microseconds + message)
"""

from __future__ import annotations

import bisect
import json
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import cv2
import numpy as np
import numpy.typing as npt

from edge.types import Pose
from sim.render import GroundTruth
from sim.world import World


class Recorder:
    """Writes frames and ground truth of one run into ``out_dir`` (created; must be empty or absent)."""

    def __init__(
        self,
        out_dir: str | Path,
        world: World,
        mode: str,
        scenario_path: str | Path | None = None,
        image_format: str = "jpg",
    ):
        self.dir = Path(out_dir)
        if self.dir.exists() and any(self.dir.iterdir()):
            raise FileExistsError(f"{self.dir}: recording folder is not empty")
        if image_format not in ("jpg", "png"):
            raise ValueError(f"image_format must be 'jpg' or 'png', not {image_format!r}")
        (self.dir / "frames").mkdir(parents=True, exist_ok=True)
        self.ext = "png" if mode == "thermal" else image_format
        self.count = 0
        self._lock = threading.Lock()
        self._truth = (self.dir / "truth.jsonl").open("w", encoding="utf-8")
        cam = world.camera
        self.meta: dict[str, Any] = {
            "scenario": world.scenario.name,
            "seed": world.seed,
            "mode": mode,
            "width": cam.width,
            "height": cam.height,
            "hfov_deg": cam.hfov_deg,
            "fps": cam.fps,
            "image_format": self.ext,
            "started_utc": time.time(),
            "frames": 0,
        }
        if scenario_path is not None:
            shutil.copyfile(scenario_path, self.dir / "scenario.toml")
        self._write_meta()

    @property
    def tlog_path(self) -> Path:
        return self.dir / "mavlink.tlog"

    def write(self, index: int, image: npt.NDArray[Any], gt: GroundTruth) -> None:
        """Store one frame (index = frame number of the run) and its truth."""
        name = f"frames/{index:06d}.{self.ext}"
        params = [cv2.IMWRITE_JPEG_QUALITY, 95] if self.ext == "jpg" else [cv2.IMWRITE_PNG_COMPRESSION, 1]
        if not cv2.imwrite(str(self.dir / name), image, params):
            raise OSError(f"cannot write {self.dir / name}")
        line = {"index": index, "file": name, "t_wall": time.time(), "t_mono": time.monotonic(), **gt.to_json()}
        with self._lock:
            self._truth.write(json.dumps(line) + "\n")
            self._truth.flush()
            self.count += 1

    def _write_meta(self) -> None:
        (self.dir / "meta.json").write_text(json.dumps(self.meta, indent=2) + "\n", encoding="utf-8")

    def close(self) -> None:
        with self._lock:
            if not self._truth.closed:
                self._truth.close()
            self.meta["frames"] = self.count
            self._write_meta()


@dataclass(frozen=True)
class RecordedFrame:
    """One frame of a recording: its index, sim time (s), file path and ground truth."""

    index: int
    t: float
    path: Path
    truth: GroundTruth


class Recording:
    """Reads a folder written by ``Recorder``."""

    def __init__(self, folder: str | Path):
        self.dir = Path(folder)
        try:
            self.meta: dict[str, Any] = json.loads((self.dir / "meta.json").read_text(encoding="utf-8"))
            lines = (self.dir / "truth.jsonl").read_text(encoding="utf-8").splitlines()
        except (OSError, ValueError) as err:
            raise ValueError(f"{self.dir}: not a simulator recording ({err})") from None
        self.frames: list[RecordedFrame] = []
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
                self.frames.append(
                    RecordedFrame(int(d["index"]), float(d["t"]), self.dir / d["file"], GroundTruth.from_json(d))
                )
            except (ValueError, KeyError, TypeError) as err:
                raise ValueError(f"{self.dir / 'truth.jsonl'}:{n}: bad line ({err})") from None
        if not self.frames:
            raise ValueError(f"{self.dir}: recording has no frames")
        self._times = [f.t for f in self.frames]

    @property
    def fps(self) -> float:
        return float(self.meta["fps"])

    @property
    def scenario_path(self) -> Path | None:
        p = self.dir / "scenario.toml"
        return p if p.is_file() else None

    def __len__(self) -> int:
        return len(self.frames)

    def __iter__(self) -> Iterator[RecordedFrame]:
        return iter(self.frames)

    def image(self, frame: RecordedFrame) -> npt.NDArray[Any]:
        """The frame's image as recorded (BGR uint8, or uint16 for thermal)."""
        img = cv2.imread(str(frame.path), cv2.IMREAD_UNCHANGED)
        if img is None:
            raise OSError(f"cannot read {frame.path}")
        return np.asarray(img)

    def frame_at(self, t: float) -> RecordedFrame:
        """The last frame at or before sim time ``t`` (s); the first frame before it starts."""
        return self.frames[max(bisect.bisect_right(self._times, t) - 1, 0)]

    def pose_at(self, t: float) -> Pose | None:
        """The recorded pose of the last frame at or before sim time ``t`` (s); None before the first."""
        i = bisect.bisect_right(self._times, t) - 1
        return self.frames[i].truth.pose if i >= 0 else None


class TlogRecorder:
    """Receives MAVLink datagrams on a free local UDP port and writes them as a pymavlink tlog.

    Give ``url`` (``udpout:127.0.0.1:PORT``) to the simulated autopilot as one more output.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.port = int(self._sock.getsockname()[1])
        self.messages = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tlog", daemon=True)

    @property
    def url(self) -> str:
        return f"udpout:127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        self._sock.close()

    def _run(self) -> None:
        from pymavlink.dialects.v20 import ardupilotmega as mav

        parser = mav.MAVLink(None)
        parser.robust_parsing = True
        with self.path.open("wb") as out:
            while not self._stop.is_set():
                try:
                    data = self._sock.recv(65535)
                except TimeoutError:
                    continue
                except OSError:
                    break
                self._write(out, parser, data)

    def _write(self, out: BinaryIO, parser: Any, data: bytes) -> None:
        stamp = int(time.time() * 1e6).to_bytes(8, "big")
        for msg in parser.parse_buffer(data) or []:
            if msg.get_type() == "BAD_DATA":
                continue
            out.write(stamp + bytes(msg.get_msgbuf()))
            self.messages += 1
        out.flush()
