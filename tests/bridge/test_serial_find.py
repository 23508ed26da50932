"""Finding the flight controller's port again: newest glob match, USB identity."""

from __future__ import annotations

import os
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from fwbridge import serial_link
from fwbridge.config import SerialSettings
from fwbridge.serial_link import make_finder, newest_glob_match, usb_match


def test_newest_existing_glob_match_wins(tmp_path: Path):
    dev_a, dev_b = tmp_path / "ttyACM0", tmp_path / "ttyACM1"
    dev_a.touch()
    dev_b.touch()
    (tmp_path / "usb-fc-old").symlink_to(tmp_path / "gone")  # dangling: the device vanished
    (tmp_path / "usb-fc-a").symlink_to(dev_a)
    t = time.time()
    os.utime(tmp_path / "usb-fc-a", (t - 10, t - 10), follow_symlinks=False)
    (tmp_path / "usb-fc-b").symlink_to(dev_b)
    assert newest_glob_match(str(tmp_path / "usb-fc-*")) == str(tmp_path / "usb-fc-b")
    (tmp_path / "usb-fc-b").unlink()
    assert newest_glob_match(str(tmp_path / "usb-fc-*")) == str(tmp_path / "usb-fc-a")
    assert newest_glob_match(str(tmp_path / "nothing-*")) is None


PORTS = [
    SimpleNamespace(device="/dev/ttyUSB0", vid=0x0403, pid=0x6001, serial_number="A1"),
    SimpleNamespace(device="/dev/ttyACM3", vid=0x1209, pid=0x5741, serial_number="3A0034"),
    SimpleNamespace(device="/dev/ttyACM4", vid=0x1209, pid=0x5741, serial_number="990011"),
]


@pytest.mark.parametrize(
    ("vid", "pid", "sn", "device"),
    [
        (0x1209, 0x5741, "990011", "/dev/ttyACM4"),
        (0x1209, 0x5741, "", "/dev/ttyACM3"),
        (0x1209, None, "3A0034", "/dev/ttyACM3"),
        (0x0403, 0x6001, "", "/dev/ttyUSB0"),
        (0x2DAE, None, "", None),
    ],
)
def test_usb_identity(monkeypatch, vid, pid, sn, device):
    monkeypatch.setattr(serial_link.list_ports, "comports", lambda: PORTS)
    assert usb_match(vid, pid, sn) == device


def test_finder_prefers_path_then_glob(tmp_path: Path):
    dev = tmp_path / "tty"
    dev.touch()
    assert make_finder(SerialSettings(path=str(dev), glob="/nonexistent*"))() == str(dev)
    assert make_finder(SerialSettings(path=str(tmp_path / "absent")))() is None
    assert make_finder(SerialSettings(glob=str(tmp_path / "tt*")))() == str(dev)
