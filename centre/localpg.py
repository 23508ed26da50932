"""A throw-away PostgreSQL + PostGIS on a free local port, for tests and the benchmark (Debian's postgresql-15).

PostgreSQL refuses to run as root, so as root the data folder is given to the ``postgres`` user and the server
runs under ``runuser``. Trust authentication on 127.0.0.1 only; ``url`` connects as the superuser ``postgres``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from bench.localbroker import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")


class LocalPostgres:
    """``initdb`` + ``pg_ctl start`` in a new temp folder; ``stop`` removes it; ``crash`` and ``start`` stop
    and restart the server on the same data. Use as a context manager."""

    def __init__(self, port: int = 0) -> None:
        if not (PG_BIN / "initdb").exists():
            raise RuntimeError(f"PostgreSQL 15 is not installed ({PG_BIN}): apt-get install postgresql-15 postgis")
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="centre-pg-"))
        self.data = self.dir / "data"
        self._as: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
            self._as = ["runuser", "-u", "postgres", "--"]
        self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.start()

    def start(self) -> None:
        """Start the server on the same data folder and port; returns once it takes connections."""
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=50"
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", opts, "-l", str(self.dir / "log"), "-w", "start")
        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(self.url).close()
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def pid(self) -> int:
        """The postmaster's process id (its first line of postmaster.pid)."""
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def _run(self, *cmd: str) -> None:
        subprocess.run([*self._as, *cmd], check=True, capture_output=True, cwd=self.dir)

    def crash(self) -> None:
        """Stop the server as a power cut would (``pg_ctl stop -m immediate``: no checkpoint)."""
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def stop(self) -> None:
        if self.data.exists():
            subprocess.run(
                [*self._as, str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"],
                capture_output=True,
                cwd=self.dir,
            )
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> LocalPostgres:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
