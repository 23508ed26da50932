"""``edge-centre`` as a user runs it: gaps listed, a bad config refused with the file and key, users added."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from centre.auth import check_login
from centre.fleet import FleetPlan, make_payloads
from centre.ingest import Ingest
from centre.store import open_store


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "centre", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_gaps_are_listed_per_vehicle_and_boot(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path}/c.db"
    store = open_store(url)
    recs = make_payloads(FleetPlan(vehicles=1, records=30))["veh-00"]
    Ingest(store, ("person",)).handle([("edge/veh-00/detections", p) for i, p in enumerate(recs) if not 17 <= i <= 19])
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[store]\nurl = "{url}"\n')
    r = cli("--config", str(cfg), "gaps")
    assert r.returncode == 0, r.stderr
    boot = store.gaps()[0].boot
    assert r.stdout == f"veh-00 boot {boot:08x}: seq 17..19 missing (3)\n"
    assert "1 gaps, 3 records missing" in r.stderr


def test_a_bad_config_exits_2_naming_file_and_key(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[api]\nport = -1\n")
    r = cli("--config", str(cfg), "serve")
    assert r.returncode == 2 and f"{cfg}: api.port:" in r.stderr and "Traceback" not in r.stderr


def test_user_add_needs_a_password_and_stores_a_hash(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path}/c.db"
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[store]\nurl = "{url}"\n')
    assert cli("--config", str(cfg), "user", "anna", "analyst").returncode == 2
    r = cli("--config", str(cfg), "user", "anna", "analyst", env={"EDGE_CENTRE_PASSWORD": "s3cret"})
    assert r.returncode == 0, r.stderr
    store = open_store(url)
    assert check_login(store, "anna", "s3cret") == "analyst"
    assert check_login(store, "anna", "wrong") is None
    found = store.get_user("anna")
    assert found is not None and b"s3cret" not in found[2]


def test_a_thumbnail_request_that_cannot_be_sent_says_why_before_connecting(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[store]\nurl = "sqlite://{tmp_path}/c.db"\n[mqtt]\nurl = "mqtt://127.0.0.1:9"\n')  # no broker
    for args, says in [
        (["edge/#", "3"], "vehicle: 'edge/#' is not a vehicle id"),
        (["veh-00", "3", "--max-bytes", "0"], "max_bytes: Input should be greater than 0"),
        (["veh-00", "3", "--boot", "zz"], "--boot: not a hex number: 'zz'"),
        (["veh-00", "-4"], "track: Input should be greater than or equal to 0"),
    ]:
        r = cli("--config", str(cfg), "thumbnail", *args)
        assert r.returncode == 2 and says in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)


@pytest.mark.parametrize("cmd", ["gaps", "retention", "user"])
def test_a_damaged_database_file_or_a_database_not_there_is_named_without_a_traceback(tmp_path: Path, cmd: str) -> None:
    damaged = tmp_path / "c.db"
    damaged.write_bytes(bytes(range(256)) * 40)  # not SQLite
    for url, why in [(f"sqlite://{damaged}", "file is not a database"), ("postgresql://u:pw@127.0.0.1:1/c", "refused")]:
        cfg = tmp_path / "c.toml"
        cfg.write_text(f'[store]\nurl = "{url}"\n')
        args = ["anna", "analyst"] if cmd == "user" else []
        r = cli("--config", str(cfg), cmd, *args, env={"EDGE_CENTRE_PASSWORD": "s3cret"})
        assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
        assert f"edge-centre {cmd}: database {url.split('@')[-1]}: " in r.stderr and why in r.stderr
        assert "pw" not in r.stderr


def test_ingest_waits_for_a_damaged_database_file_and_stops_cleanly(tmp_path: Path) -> None:
    damaged = tmp_path / "c.db"
    damaged.write_bytes(bytes(range(256)) * 40)
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[store]\nurl = "sqlite://{damaged}"\n')
    proc = subprocess.Popen(
        [sys.executable, "-m", "centre", "--config", str(cfg), "ingest"], stderr=subprocess.PIPE, text=True
    )
    time.sleep(3.0)
    proc.terminate()
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert f"database sqlite://{damaged}: file is not a database; retrying" in err
