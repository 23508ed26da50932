"""The thread lifecycle that every source stage shares: one daemon thread running ``_run`` until stopped."""

from __future__ import annotations

import threading


class Worker:
    """Base of a source Stage whose work is ``_run`` on one daemon thread; ``_run`` returns once ``_stop`` is set.

    Subclasses set ``name`` and ``_start_state`` (the state shown while the first connection is made) and may
    override ``_interrupt`` to wake a ``_run`` blocked in I/O.
    """

    name: str
    state: str
    _start_state = "connecting"

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self.state = self._start_state
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (within 2 s) and say so in ``state``."""
        self._stop.set()
        self._interrupt()
        if self._thread is not None:
            self._thread.join(2.0)
            self._thread = None
        self.state = "stopped"

    def _interrupt(self) -> None:
        """Wake a ``_run`` blocked in I/O (e.g. shut a socket down); nothing by default."""

    def _run(self) -> None:
        raise NotImplementedError
