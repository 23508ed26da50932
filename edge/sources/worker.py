"""The thread lifecycle that every source stage shares: one daemon thread running ``_run`` until stopped.

A ``_run`` that raises (a bug, an input nobody foresaw) does not end the source: the exception is logged, counted
in ``crashes`` (shown in health by ``thread_health``) and ``_run`` is started again after a short backoff.
"""

from __future__ import annotations

import logging
import threading
import time

from edge.ops.backoff import Backoff
from edge.stages import Health

log = logging.getLogger(__name__)


class Worker:
    """Base of a source Stage whose work is ``_run`` on one daemon thread; ``_run`` returns once ``_stop`` is set.

    Subclasses set ``name`` and ``_start_state`` (the state shown while the first connection is made) and may
    override ``_interrupt`` to wake a ``_run`` blocked in I/O.
    """

    name: str
    state: str
    _start_state = "connecting"
    HEALTHY_RUN_S = 10.0  # a _run that lived this long before crashing restarts after the short first delay

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.crashes = 0
        self.last_crash = ""

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self.state = self._start_state
        self._thread = threading.Thread(target=self._guarded, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (within 2 s) and say so in ``state``."""
        self._stop.set()
        self._interrupt()
        if self._thread is not None:
            self._thread.join(2.0)
            self._thread = None
        self.state = "stopped"

    def thread_health(self) -> Health:
        """Whether the thread runs and how often ``_run`` crashed and was restarted."""
        thread = self._thread
        return {
            "thread_alive": thread is not None and thread.is_alive(),
            "crashes": self.crashes,
            "last_crash": self.last_crash,
        }

    def _guarded(self) -> None:
        backoff = Backoff(0.5, 5.0)
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                self._run()
                return
            except Exception as err:
                self.crashes += 1
                self.last_crash = f"{type(err).__name__}: {err}"
                self.state = "restarting after a crash"
                log.exception("%s: reader thread crashed; restarting it", self.name)
            if time.monotonic() - began >= self.HEALTHY_RUN_S:
                backoff.reset()
            backoff.wait(self._stop)

    def _interrupt(self) -> None:
        """Wake a ``_run`` blocked in I/O (e.g. shut a socket down); nothing by default."""

    def _run(self) -> None:
        raise NotImplementedError
