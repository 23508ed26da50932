"""The browser-like client of the console's benchmark: only the standard library, so that it starts light."""

from __future__ import annotations

import contextlib
import http.client
import re
import time

URL = re.compile(r'"url": "([^"]+)"')


def main(port: int, seconds: float) -> None:
    """Like the page on its Live view, for ``seconds``: the event stream with ``live=cam0``, and a GET of each JPEG
    it announces; prints the JPEGs fetched. Run as its own process, as a browser is (on the crew's laptop)."""
    deadline = time.monotonic() + seconds
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    fetch = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/api/stream?live=cam0")
    resp = conn.getresponse()
    frames = 0
    kind = ""
    with contextlib.suppress(OSError, http.client.HTTPException):
        while time.monotonic() < deadline:
            line = resp.fp.readline().decode()
            if not line:
                break
            if line.startswith("event: "):
                kind = line[7:].strip()
            elif kind == "frame" and (m := URL.search(line)):
                fetch.request("GET", m.group(1))
                fetch.getresponse().read()
                frames += 1
    print(frames, flush=True)
