"""`edge listen` stops on Ctrl-C and on SIGTERM with its summary, also when started as a script's background job
(whose shell sets SIGINT to be ignored, and Python keeps it so): connected to a real Mosquitto, and while the broker
is still out of reach."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.localbroker import LocalBroker
from bench.waits import wait_for

pytestmark = pytest.mark.integration


def _ignoring_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # what `cmd &` in a non-interactive shell does


def _stop(broker_url: str, sig: signal.Signals, ready: str) -> tuple[int, str]:
    cmd = [sys.executable, "-m", "edge", "listen", "--broker", broker_url, "--timeout", "120", "--report-s", "0"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, preexec_fn=_ignoring_sigint)
    stderr = proc.stderr
    assert stderr is not None
    err: list[str] = []

    def said_ready() -> bool:
        err.append(stderr.readline())
        return ready in err[-1]

    try:
        assert wait_for(said_ready, 30), err
        proc.send_signal(sig)
        _, rest = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, "".join(err) + rest


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_background_listener_stops_on_a_signal_with_its_summary(tmp_path: Path, sig: signal.Signals) -> None:
    with LocalBroker(tmp_path / "broker") as broker:
        code, err = _stop(f"mqtt://127.0.0.1:{broker.port}", sig, "connected to")
    assert code == 0 and "Traceback" not in err, err
    assert "0 detections in 0 records" in err.splitlines()[-1], err
    t = time.monotonic()
    code, err = _stop("mqtt://127.0.0.1:1", sig, "connection refused")  # nothing listens there: retrying
    assert code == 0 and "Traceback" not in err and "0 detections in 0 records" in err, err
    assert time.monotonic() - t < 60
