"""The flight controller's serial port: found by path, glob or USB identity, reopened after it vanishes."""

from __future__ import annotations

import contextlib
import glob as globmod
import os
from collections.abc import Callable

import serial
from serial.tools import list_ports

from fwbridge.config import SerialSettings
from fwbridge.frames import MsgInfo
from fwbridge.links import Deliver, StreamLink
from fwbridge.loop import Loop

PortFinder = Callable[[], "str | None"]


def newest_glob_match(pattern: str) -> str | None:
    """The existing match of ``pattern`` created last (by lstat mtime, so a new symlink wins); None if none."""
    best: tuple[float, str] | None = None
    for p in globmod.glob(pattern):
        if not os.path.exists(p):  # dangling symlink to a vanished device
            continue
        mtime = os.lstat(p).st_mtime
        if best is None or mtime > best[0]:
            best = (mtime, p)
    return best[1] if best else None


def usb_match(vid: int | None, pid: int | None, serial_number: str) -> str | None:
    """Device path of the first USB serial port with this vendor/product id and serial number (None if absent)."""
    for port in list_ports.comports():
        if vid is not None and port.vid != vid:
            continue
        if pid is not None and port.pid != pid:
            continue
        if serial_number and port.serial_number != serial_number:
            continue
        return str(port.device)
    return None


def make_finder(s: SerialSettings) -> PortFinder:
    """The port finder the settings describe: fixed path, newest glob match, or USB identity."""
    if s.path:
        return lambda: s.path if os.path.exists(s.path) else None
    if s.glob:
        return lambda: newest_glob_match(s.glob)
    return lambda: usb_match(s.usb_vid, s.usb_pid, s.usb_serial)


class SerialLink(StreamLink):
    """The serial port to the flight controller; a vanished device is noticed by I/O errors or its path going away."""

    def __init__(
        self,
        settings: SerialSettings,
        loop: Loop,
        table: dict[int, MsgInfo],
        deliver: Deliver,
        finder: PortFinder | None = None,
    ) -> None:
        super().__init__(settings, loop, table, deliver)
        self.ss = settings
        self.finder = finder or make_finder(settings)
        self.port: serial.Serial | None = None
        self.path = ""
        self._fd = -1

    def _open(self) -> None:
        path = self.finder()
        if path is None:
            raise OSError("no serial port matches the configured path/glob/USB identity")
        try:
            port = serial.Serial(path, self.ss.baud, timeout=0, write_timeout=0, exclusive=True)
        except (serial.SerialException, ValueError) as err:
            raise OSError(f"{path}: {err}") from None
        self.port, self.path, self._fd = port, path, port.fileno()
        os.set_blocking(self._fd, False)
        self._fileobj = self._fd
        self._pending.clear()
        self.loop.watch(self._fd, self._readable, self._writable)
        self.stats.last_error = ""
        self.stats.state = "up"

    def _close(self) -> None:
        self.loop.unwatch(self._fd)
        if self.port is not None:
            with contextlib.suppress(OSError, serial.SerialException):
                self.port.close()
        self.port, self._fd = None, -1
        self._pending.clear()

    def _send_now(self, data: bytes | bytearray) -> int:
        return os.write(self._fd, data)

    def _readable(self) -> None:
        try:
            data = os.read(self._fd, 65536)
        except BlockingIOError:
            return
        except OSError as err:
            self.fail(f"{self.path}: {err.strerror or err}")
            return
        if not data:
            self.fail(f"{self.path}: hung up")
            return
        self._received(data)

    def periodic(self, now: float) -> None:
        super().periodic(now)
        if self.up and not os.path.exists(self.path):
            self.fail(f"{self.path}: device vanished")

    def describe(self) -> str:
        return self.path if self.up else "searching"
