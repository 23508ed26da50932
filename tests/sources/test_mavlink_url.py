"""``mavlink.url`` forms, and the clear errors for the rest."""

from __future__ import annotations

import pytest

from edge.sources.mavlink_transport import Endpoint, parse_url

GOOD = [
    ("tcp:127.0.0.1:5760", Endpoint("tcp", "127.0.0.1", 5760)),
    ("udpin:0.0.0.0:14550", Endpoint("udpin", "0.0.0.0", 14550)),
    ("udp:0.0.0.0:14550", Endpoint("udpin", "0.0.0.0", 14550)),
    ("udpout:10.0.0.2:14550", Endpoint("udpout", "10.0.0.2", 14550)),
    ("serial:/dev/ttyACM0", Endpoint("serial", "/dev/ttyACM0", baud=115200)),
    ("serial:/dev/ttyAMA0:921600", Endpoint("serial", "/dev/ttyAMA0", baud=921600)),
    ("/dev/serial/by-id/usb-ArduPilot", Endpoint("serial", "/dev/serial/by-id/usb-ArduPilot", baud=115200)),
    ("usb:1209:5741", Endpoint("usb", "1209:5741", baud=115200)),
    ("usb:1209:5741:ABC123", Endpoint("usb", "1209:5741:ABC123", baud=115200)),
    ("/data/flight.tlog", Endpoint("tlog", "/data/flight.tlog")),
    ("tlog:rel/flight.TLOG", Endpoint("tlog", "rel/flight.TLOG")),
]


@pytest.mark.parametrize(("url", "ep"), GOOD)
def test_good_urls(url: str, ep: Endpoint) -> None:
    assert parse_url(url, 115200) == ep


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("", "empty"),
        ("tcp:5760", "tcp:HOST:PORT"),
        ("udpin:host:99999", "udpin:HOST:PORT"),
        ("usb:xyz:1", "hex"),
        ("com3", "expected tcp:HOST:PORT"),
    ],
)
def test_bad_urls_say_what_to_write(url: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_url(url, 115200)
