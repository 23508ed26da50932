"""Finding a serial port by its USB identity (vendor id, product id, serial number), so that a flight controller
is found again after the kernel re-enumerates it under another /dev name."""

from __future__ import annotations

from dataclasses import dataclass

from serial.tools import list_ports


@dataclass(frozen=True, slots=True)
class UsbId:
    """USB vendor and product id (16-bit) and optional serial number."""

    vid: int
    pid: int
    serial: str | None = None

    @classmethod
    def parse(cls, text: str) -> UsbId:
        """``VID:PID[:SERIAL]`` with hex ids (``1209:5741`` or ``0x1209:0x5741:ABC123``)."""
        parts = text.split(":", 2)
        if len(parts) < 2:
            raise ValueError(f"USB id {text!r}: expected VID:PID[:SERIAL] with hex ids, e.g. 1209:5741")
        try:
            vid, pid = (int(p, 16) for p in parts[:2])
        except ValueError:
            raise ValueError(f"USB id {text!r}: vendor and product ids must be hex numbers") from None
        if not (0 <= vid <= 0xFFFF and 0 <= pid <= 0xFFFF):
            raise ValueError(f"USB id {text!r}: ids must fit in 16 bits")
        return cls(vid, pid, parts[2] if len(parts) == 3 and parts[2] else None)

    def __str__(self) -> str:
        return f"{self.vid:04x}:{self.pid:04x}" + (f":{self.serial}" if self.serial else "")


def find_port(usb: UsbId) -> str | None:
    """The /dev path of the first port with this identity (sorted by path for a stable choice), or None."""
    hits = sorted(
        p.device
        for p in list_ports.comports()
        if p.vid == usb.vid and p.pid == usb.pid and (usb.serial is None or p.serial_number == usb.serial)
    )
    return hits[0] if hits else None


def usb_ports() -> list[str]:
    """One line per USB serial port present: ``/dev/ttyACM0 1209:5741:SERIAL description`` (for error messages)."""
    return [
        f"{p.device} {UsbId(p.vid, p.pid, p.serial_number)} {p.description}"
        for p in sorted(list_ports.comports(), key=lambda p: p.device)
        if p.vid is not None and p.pid is not None
    ]
