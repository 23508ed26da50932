"""Logging set-up fit for journald: no timestamps of our own when systemd captures the output."""

from __future__ import annotations

import logging
import os
import sys


def under_journald() -> bool:
    """True when stderr is connected to the journal (systemd sets ``$JOURNAL_STREAM`` to its dev:inode)."""
    stream = os.environ.get("JOURNAL_STREAM")
    if not stream:
        return False
    try:
        st = os.fstat(sys.stderr.fileno())
    except (OSError, ValueError):
        return False
    return stream == f"{st.st_dev}:{st.st_ino}"


def setup_logging(level: str = "INFO") -> None:
    """Root logger to stderr as ``LEVEL logger: message`` (journald) or with a timestamp (terminal).

    Under journald the level is also sent as a ``<N>`` syslog prefix so ``journalctl -p`` filters work.
    """
    handler = logging.StreamHandler(sys.stderr)
    if under_journald():
        handler.setFormatter(_JournalFormatter("%(levelname)s %(name)s: %(message)s"))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


_SYSLOG_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


class _JournalFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"<{_SYSLOG_PRIORITY.get(record.levelno, 6)}>{super().format(record)}"
