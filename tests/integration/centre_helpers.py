"""Ingest workers as real processes (``python -m centre ingest``) for the centre's integration tests."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path


def write_config(path: Path, broker_port: int, store_url: str, client_id: str, extra: str = "") -> Path:
    path.write_text(
        f'[mqtt]\nurl = "mqtt://127.0.0.1:{broker_port}"\nclient_id = "{client_id}"\nbatch_max = 200\n'
        f'[store]\nurl = "{store_url}"\n' + extra
    )
    return path


class Worker:
    """One ``edge-centre ingest`` process; its log in ``log``."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config = config
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> None:
        mark = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as f:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "centre", "--config", str(self.config), "ingest"], stdout=f, stderr=f
            )
        deadline = time.monotonic() + timeout
        while "subscribed to" not in self.log.read_bytes()[mark:].decode(errors="replace"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not subscribe: {self.log.read_text()[-3000:]}")
            time.sleep(0.05)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
