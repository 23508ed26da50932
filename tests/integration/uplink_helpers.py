"""Helpers for the uplink integration tests: test certificates (openssl CLI), a TCP proxy that can black-hole."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
from pathlib import Path

from bench.localbroker import free_port


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def make_ca(d: Path, name: str) -> None:
    """``{name}.key`` / ``{name}.crt``: a self-signed CA."""
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "2", "-subj", f"/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=d,
    )  # fmt: skip


def make_cert(d: Path, name: str, ca: str, san: str = "") -> None:
    """``{name}.key`` / ``{name}.crt`` signed by CA ``ca``; ``san`` like ``DNS:localhost,IP:127.0.0.1``."""
    _openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d,
    )  # fmt: skip
    ext = d / f"{name}.ext"
    ext.write_text((f"subjectAltName={san}\n" if san else "") + "basicConstraints=CA:FALSE\n")
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key", "-CAcreateserial",
        "-out", f"{name}.crt", "-days", "2", "-extfile", ext.name, cwd=d,
    )  # fmt: skip


def make_pki(d: Path) -> Path:
    """ca, server (localhost/127.0.0.1), client (signed by ca) and an unrelated 'wrongca'. Returns ``d``."""
    d.mkdir(parents=True, exist_ok=True)
    make_ca(d, "ca")
    make_ca(d, "wrongca")
    make_cert(d, "server", "ca", "DNS:localhost,IP:127.0.0.1")
    make_cert(d, "client", "ca")
    for p in d.iterdir():
        p.chmod(0o644)
    return d


class Proxy:
    """TCP proxy 127.0.0.1:``port`` -> ``target_port``. ``blackhole(True)``: every byte is swallowed (both ways)
    on existing and new connections, which stay open; those connections never forward again (like a dead radio
    link whose TCP state is lost). ``c2s_bytes`` counts bytes forwarded client -> server."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._srv = socket.create_server(("127.0.0.1", self.port))
        self._srv.settimeout(0.2)
        self._holing = False
        self._conns: list[dict[str, object]] = []
        self._lock = threading.Lock()
        self.c2s_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def blackhole(self, on: bool) -> None:
        with self._lock:
            self._holing = on
            if on:
                for c in self._conns:
                    c["dead"] = True

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                cli, _ = self._srv.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn: dict[str, object] = {"dead": self._holing, "socks": [cli]}
            up = None
            if not self._holing:
                try:
                    up = socket.create_connection(("127.0.0.1", self.target_port), timeout=2)
                except OSError:
                    cli.close()
                    continue
                conn["socks"] = [cli, up]
            with self._lock:
                self._conns.append(conn)
            threading.Thread(target=self._pump, args=(cli, up, conn, True), daemon=True).start()
            if up is not None:
                threading.Thread(target=self._pump, args=(up, cli, conn, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket | None, conn: dict[str, object], c2s: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if conn["dead"] or dst is None:
                    continue
                dst.sendall(data)
                if c2s:
                    self.c2s_bytes += len(data)
        except OSError:
            pass
        if conn["dead"]:
            src.close()
            return
        for s in conn["socks"]:  # type: ignore[attr-defined]
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._stop.set()
        self._srv.close()
        with self._lock:
            for c in self._conns:
                for s in c["socks"]:  # type: ignore[attr-defined]
                    s.close()
        self._thread.join(2)
