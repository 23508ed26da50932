"""Finding a flight controller's serial port by USB identity (the port list is the one thing faked)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from edge.sources import serial_find
from edge.sources.serial_find import UsbId, find_port


@pytest.mark.parametrize(
    ("text", "usb"),
    [
        ("1209:5741", UsbId(0x1209, 0x5741)),
        ("0x2dae:1016:ABC:1", UsbId(0x2DAE, 0x1016, "ABC:1")),
        ("26AC:0011:", UsbId(0x26AC, 0x0011)),
    ],
)
def test_parse(text: str, usb: UsbId) -> None:
    assert UsbId.parse(text) == usb


@pytest.mark.parametrize("text", ["1209", "12g9:5741", "10000:1"])
def test_parse_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="USB id"):
        UsbId.parse(text)


def test_find_port_survives_renumbering(monkeypatch: pytest.MonkeyPatch) -> None:
    ports = [
        SimpleNamespace(device="/dev/ttyACM3", vid=0x1209, pid=0x5741, serial_number="B", description="fc"),
        SimpleNamespace(device="/dev/ttyACM1", vid=0x1209, pid=0x5741, serial_number="A", description="fc"),
        SimpleNamespace(device="/dev/ttyS0", vid=None, pid=None, serial_number=None, description="n/a"),
    ]
    monkeypatch.setattr(serial_find.list_ports, "comports", lambda: ports)
    assert find_port(UsbId(0x1209, 0x5741, "B")) == "/dev/ttyACM3"
    assert find_port(UsbId(0x1209, 0x5741)) == "/dev/ttyACM1"  # no serial given: the first by path
    assert find_port(UsbId(0x1209, 0x5741, "C")) is None
    assert serial_find.usb_ports() == ["/dev/ttyACM1 1209:5741:A fc", "/dev/ttyACM3 1209:5741:B fc"]
