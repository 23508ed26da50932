"""A small selector loop: file objects with read/write callbacks, one thread, no asyncio overhead."""

from __future__ import annotations

import contextlib
import selectors
from collections.abc import Callable
from typing import Any

Callback = Callable[[], None]


class Loop:
    """Dispatches readiness of registered file objects (sockets, serial fds) to callbacks."""

    def __init__(self) -> None:
        self._sel = selectors.DefaultSelector()

    def watch(self, fileobj: Any, on_read: Callback, on_write: Callback | None = None) -> None:
        self._sel.register(fileobj, selectors.EVENT_READ, (on_read, on_write))

    def want_write(self, fileobj: Any, enabled: bool) -> None:
        """Ask (or stop asking) for write readiness of a watched object that has an on_write callback."""
        key = self._sel.get_key(fileobj)
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if enabled else 0)
        if key.events != events:
            self._sel.modify(fileobj, events, key.data)

    def unwatch(self, fileobj: Any) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._sel.unregister(fileobj)

    def run_once(self, timeout: float) -> None:
        """Wait up to ``timeout`` s for readiness and run the callbacks of what became ready."""
        for key, events in self._sel.select(timeout):
            on_read, on_write = key.data
            if events & selectors.EVENT_READ:
                on_read()
            # the read callback may have closed it (a closed socket's fileno is -1): look it up by its number
            if events & selectors.EVENT_WRITE and on_write is not None and self._sel.get_map().get(key.fd) is key:
                on_write()

    def close(self) -> None:
        self._sel.close()
