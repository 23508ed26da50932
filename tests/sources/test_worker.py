"""The shared source thread lifecycle: one thread, start twice is harmless, stop interrupts and joins."""

from __future__ import annotations

import threading

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
