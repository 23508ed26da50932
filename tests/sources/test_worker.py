"""The shared source thread lifecycle: one thread, start twice is harmless, stop interrupts and joins."""

from __future__ import annotations

import threading
import time

from edge.sources.worker import Worker


class Blocking(Worker):
    name = "blocking"

    def __init__(self) -> None:
        super().__init__()
        self.wake = threading.Event()
        self.runs = 0

    def _run(self) -> None:
        self.runs += 1
        while not self._stop.is_set():
            self.wake.wait()  # stands for blocking I/O that only _interrupt ends

    def _interrupt(self) -> None:
        self.wake.set()


def test_start_stop_lifecycle() -> None:
    w = Blocking()
    w.start()
    assert w.state == "connecting"
    first = w._thread
    w.start()  # already running: no second thread
    assert w._thread is first and first is not None and first.is_alive()
    w.stop()
    assert w.state == "stopped" and not first.is_alive() and w.runs == 1
    w.wake.clear()
    w.start()  # restartable after a stop
    assert w._thread is not None and w._thread is not first
    w.stop()
    assert w.runs == 2


class CrashesOnce(Worker):
    name = "crashy"

    def __init__(self) -> None:
        super().__init__()
        self.runs = 0

    def _run(self) -> None:
        self.runs += 1
        if self.runs == 1:
            raise ValueError("a report nobody foresaw")
        self.state = "running"
        self._stop.wait()


def test_a_crashed_run_is_noticed_and_restarted() -> None:
    w = CrashesOnce()
    w.start()
    try:
        deadline = time.monotonic() + 5.0
        while w.state != "running" and time.monotonic() < deadline:
            time.sleep(0.02)
        h = w.thread_health()
        assert w.runs == 2 and w.state == "running"
        assert h == {"thread_alive": True, "crashes": 1, "last_crash": "ValueError: a report nobody foresaw"}
    finally:
        w.stop()
