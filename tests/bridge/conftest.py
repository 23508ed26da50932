"""Real MAVLink peers for the bridge tests: a flight controller on a pty, pymavlink clients on UDP/TCP."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import tty
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fwbridge.bridge import Bridge
from fwbridge.config import BridgeConfig
from pymavlink import mavutil
from pymavlink.dialects.v20 import ardupilotmega as mavlink


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PtyFc:
    """A flight controller on a pseudo-terminal: HEARTBEAT at 1 Hz and GLOBAL_POSITION_INT at ``pos_hz``.

    ``received`` collects the messages the companion side wrote to it. ``link_to`` makes a symlink to the pty
    (the name the bridge finds it by, like /dev/serial/by-id/...).
    """

    def __init__(self, pos_hz: float = 10.0, key: bytes | None = None) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)
        self.pos_hz = pos_hz
        self.mav = mavlink.MAVLink(None, srcSystem=1, srcComponent=1)
        self.mav.robust_parsing = True
        if key is not None:
            self.mav.signing.secret_key = key
            self.mav.signing.sign_outgoing = True
        self.received: list[Any] = []
        self.sent = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.links: list[Path] = []

    def link_to(self, path: Path) -> Path:
        path.symlink_to(self.path)
        self.links.append(path)
        return path

    def start(self) -> PtyFc:
        self._thread.start()
        return self

    def send(self, msg: Any) -> None:
        with self._lock:
            data = msg.pack(self.mav)
            self.mav.seq = (self.mav.seq + 1) % 256
        try:
            os.write(self.master, data)
            self.sent += 1
        except BlockingIOError:
            pass

    def skip_seq(self, n: int) -> None:
        """Jump the sequence number as if ``n`` frames were lost on the line."""
        with self._lock:
            self.mav.seq = (self.mav.seq + n) % 256

    def _run(self) -> None:
        t0 = time.monotonic()
        next_hb = next_pos = t0
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_hb:
                next_hb += 1.0
                self.send(mavlink.MAVLink_heartbeat_message(2, 3, 0, 0, 4, 3))
            if now >= next_pos:
                next_pos += 1.0 / self.pos_hz
                ms = int((now - t0) * 1000)
                self.send(
                    mavlink.MAVLink_global_position_int_message(ms, 426123400, 199451200, 500000, 100000, 0, 0, 0, 0)
                )
            try:
                data = os.read(self.master, 4096)
            except (BlockingIOError, OSError):
                data = b""
            if data:
                msgs = self.mav.parse_buffer(data) or []
                self.received.extend(m for m in msgs if m.get_type() != "BAD_DATA")
            self._stop.wait(0.005)

    def stop(self) -> None:
        """Stop and close the pty: the device vanishes, as when a USB cable is pulled. Idempotent."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        for p in self.links:
            p.unlink(missing_ok=True)
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)

    def got(self, mtype: str) -> list[Any]:
        return [m for m in list(self.received) if m.get_type() == mtype]


class BridgeThread:
    """Runs a Bridge in a thread for a test; ``stop`` ends it within a second."""

    def __init__(self, cfg: BridgeConfig, **kw: Any) -> None:
        self.bridge = Bridge(cfg, **kw)
        self.thread = threading.Thread(target=self.bridge.run, daemon=True)

    def __enter__(self) -> Bridge:
        self.thread.start()
        return self.bridge

    def __exit__(self, *exc: object) -> None:
        self.bridge.stop()
        self.thread.join(timeout=3)
        assert not self.thread.is_alive(), "bridge did not stop"


def wait_for(pred: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def collect(conn: Any, seconds: float, keepalive: bool = True) -> list[Any]:
    """Messages a pymavlink connection receives for ``seconds``; sends a GCS heartbeat every 0.5 s."""
    out: list[Any] = []
    end = time.monotonic() + seconds
    next_hb = 0.0
    while (now := time.monotonic()) < end:
        if keepalive and now >= next_hb:
            next_hb = now + 0.5
            conn.mav.heartbeat_send(6, 8, 0, 0, 0)
        m = conn.recv_match(blocking=True, timeout=0.05)
        if m is not None and m.get_type() != "BAD_DATA":
            out.append(m)
    return out


@pytest.fixture
def fc_factory() -> Iterator[Callable[..., PtyFc]]:
    made: list[PtyFc] = []

    def make(**kw: Any) -> PtyFc:
        fc = PtyFc(**kw)
        made.append(fc)
        return fc

    yield make
    for fc in made:
        fc.stop()


@pytest.fixture
def gcs_factory() -> Iterator[Callable[..., Any]]:
    conns: list[Any] = []

    os.environ["MAVLINK20"] = "1"  # pymavlink picks the wire version from the environment
    mavutil.set_dialect("ardupilotmega")

    def make(url: str, **kw: Any) -> Any:
        c = mavutil.mavlink_connection(url, source_system=kw.pop("source_system", 255), **kw)
        conns.append(c)
        return c

    yield make
    for c in conns:
        c.close()


@pytest.fixture
def kit() -> Any:
    """Helpers for the test modules (conftest modules cannot be imported under importlib mode)."""
    import types

    return types.SimpleNamespace(free_port=free_port, BridgeThread=BridgeThread, wait_for=wait_for, collect=collect)
