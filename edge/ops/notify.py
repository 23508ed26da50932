"""systemd's notify protocol (sd_notify) in a few lines: READY=1, STATUS=..., WATCHDOG=1, STOPPING=1.

Messages go as one datagram to the unix socket named by ``$NOTIFY_SOCKET`` (a path, or ``@name`` for the
abstract namespace). Without the variable (not under systemd) every call is a no-op that returns False.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable


def notify(state: str, env: dict[str, str] | None = None) -> bool:
    """Send ``state`` (e.g. ``"READY=1\\nSTATUS=running"``) to systemd; True when it was sent."""
    addr = (env if env is not None else os.environ).get("NOTIFY_SOCKET")
    if not addr:
        return False
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.setblocking(False)  # a notify socket nobody reads must never stall the daemon
            sock.connect(addr)
            sock.send(state.encode("utf-8"))
    except OSError:
        return False
    return True


def watchdog_interval(env: dict[str, str] | None = None) -> float | None:
    """Seconds between WATCHDOG=1 pings: half of ``$WATCHDOG_USEC`` (None when no watchdog is asked for).

    ``$WATCHDOG_PID``, when set, must be our pid (systemd sets it for the main process only).
    """
    e = env if env is not None else os.environ
    usec = e.get("WATCHDOG_USEC")
    pid = e.get("WATCHDOG_PID")
    if not usec or (pid and pid.isdigit() and int(pid) != os.getpid()):
        return None
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 2e6 if value > 0 else None


class Watchdog:
    """Pings WATCHDOG=1 every half watchdog interval while ``healthy()`` says the daemon makes progress."""

    def __init__(self, healthy: Callable[[], bool] | None = None, env: dict[str, str] | None = None) -> None:
        self._interval = watchdog_interval(env)
        self._env = env
        self._healthy = healthy
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def interval(self) -> float | None:
        return self._interval

    def start(self) -> None:
        if self._interval is None:
            return
        self._thread = threading.Thread(target=self._run, name="watchdog", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        assert self._interval is not None
        while not self._stop.wait(self._interval):
            if self._healthy is None or self._healthy():
                notify("WATCHDOG=1", self._env)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
