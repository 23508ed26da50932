"""TLS with verification, mutual TLS, password login and ACLs against a real mosquitto."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.localbroker import LocalBroker, free_port
from edge.types import EventKind, FrameEvents, GeoEvent, Pose
from edge.uplink.drainer import Drainer
from edge.uplink.settings import MqttSettings, SpoolSettings
from edge.uplink.spool import Spool, SpoolWriter
from edge.uplink.transports.mqtt import mqtt_uplink

sys.path.insert(0, str(Path(__file__).parent))
from uplink_helpers import make_cert, make_pki

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory, pki: Path) -> Iterator[tuple[LocalBroker, int, int]]:
    """Plain listener, a TLS listener (server cert) and a mutual-TLS listener (client cert required)."""
    tls_port, mtls_port = free_port(), free_port()
    files = f"cafile {pki}/ca.crt\ncertfile {pki}/server.crt\nkeyfile {pki}/server.key\n"
    conf = f"listener {tls_port} 127.0.0.1\n{files}listener {mtls_port} 127.0.0.1\n{files}require_certificate true\n"
    with LocalBroker(tmp_path_factory.mktemp("tlsbroker"), conf) as b:
        yield b, tls_port, mtls_port


@pytest.fixture(scope="module")
def auth_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    """Password login required; user 'edge' may publish status and health of v1 but not detections."""
    d = tmp_path_factory.mktemp("authbroker")
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(d / "passwd"), "edge", "s3cret"], check=True, timeout=10)
    (d / "acl").write_text("user edge\ntopic readwrite edge/v1/status\ntopic readwrite edge/v1/health\n")
    for f in ("passwd", "acl"):
        (d / f).chmod(0o644)
    with LocalBroker(d, f"password_file {d}/passwd\nacl_file {d}/acl\n", anonymous=False) as b:
        yield b


def _send_one(tmp_path: Path, settings: MqttSettings, wait_s: float = 8.0) -> tuple[Spool, Drainer]:
    """Spool one detection and run the uplink until it is acknowledged, refused, or ``wait_s`` passed."""
    tmp_path.mkdir(exist_ok=True)
    spool = Spool(tmp_path / "spool.sqlite", SpoolSettings())
    writer = SpoolWriter(spool, "v1", 1)
    ev = GeoEvent(1, 0, "person", 0.9, EventKind.NEW, (0.1, 0.1, 0.2, 0.2), 42.0, 19.0, 100.0, 5.0)
    writer.submit(FrameEvents("cam0", 0, time.time(), Pose(0, 42.0, 19.0, 200.0), (ev,)))
    writer.commit_pending()
    uplink = mqtt_uplink(settings, spool, "v1")
    uplink.start()
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline and spool.rows and not uplink.health()["last_error"]:
        time.sleep(0.05)
    time.sleep(0.3)
    uplink.flush(1.0)
    return spool, uplink


def _settings(url: str, **kw: object) -> MqttSettings:
    return MqttSettings.model_validate(
        {"url": url, "reconnect_min_s": 5, "reconnect_max_s": 5, "connect_timeout_s": 3, **kw}
    )


def test_tls_with_server_verification(tmp_path: Path, tls_broker: tuple[LocalBroker, int, int], pki: Path) -> None:
    _, tls_port, _ = tls_broker
    spool, uplink = _send_one(tmp_path, _settings(f"mqtts://127.0.0.1:{tls_port}", cafile=str(pki / "ca.crt")))
    assert spool.rows == 0 and spool.counters()["acked"] == 1, uplink.health()["last_error"]


def test_wrong_ca_is_refused_with_a_clear_line(
    tmp_path: Path, tls_broker: tuple[LocalBroker, int, int], pki: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _, tls_port, _ = tls_broker
    with caplog.at_level(logging.ERROR, "edge.uplink"):
        spool, _ = _send_one(tmp_path, _settings(f"mqtts://127.0.0.1:{tls_port}", cafile=str(pki / "wrongca.crt")))
    assert spool.rows == 1
    assert "TLS server certificate not trusted" in caplog.text and "wrongca.crt" in caplog.text


def test_mutual_tls(tmp_path: Path, tls_broker: tuple[LocalBroker, int, int], pki: Path) -> None:
    _, _, mtls_port = tls_broker
    url = f"mqtts://127.0.0.1:{mtls_port}"
    ca = str(pki / "ca.crt")
    spool, uplink = _send_one(
        tmp_path, _settings(url, cafile=ca, certfile=str(pki / "client.crt"), keyfile=str(pki / "client.key"))
    )
    assert spool.rows == 0, uplink.health()["last_error"]
    spool2, uplink2 = _send_one(tmp_path / "nocert", _settings(url, cafile=ca), wait_s=4)
    assert spool2.rows == 1 and uplink2.health()["connects"] == 0
    assert "MQTT broker 127.0.0.1" in uplink2.health()["last_error"]


def test_password_login(tmp_path: Path, auth_broker: LocalBroker, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGE_MQTT_PASSWORD", "s3cret")
    url = f"mqtt://127.0.0.1:{auth_broker.port}"
    _, uplink = _send_one(tmp_path, _settings(url, username="edge"))
    # The ACL refuses the detection and Mosquitto drops the link; the quick first retry may reconnect at once.
    assert int(uplink.health()["connects"]) >= 1 and "refused" not in uplink.health()["last_error"]


def test_wrong_password_is_refused_with_a_clear_line(
    tmp_path: Path, auth_broker: LocalBroker, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("EDGE_MQTT_PASSWORD", "wrong")
    with caplog.at_level(logging.ERROR, "edge.uplink"):
        spool, uplink = _send_one(tmp_path, _settings(f"mqtt://127.0.0.1:{auth_broker.port}", username="edge"))
    assert spool.rows == 1 and uplink.health()["connects"] == 0
    assert "refused the login" in caplog.text and "mqtt.username (edge)" in caplog.text


def test_acl_denied_topic_ends_in_dead_letter_table(
    tmp_path: Path, auth_broker: LocalBroker, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("EDGE_MQTT_PASSWORD", "s3cret")
    with caplog.at_level(logging.ERROR, "edge.uplink"):
        spool, uplink = _send_one(tmp_path, _settings(f"mqtt://127.0.0.1:{auth_broker.port}", username="edge"))
    (dl,) = spool.dead_letters()
    assert "0x87" in dl.reason and dl.destination == "mqtt:edge/v1/detections"
    # Refused once, never retried (mosquitto 2.0.11 also drops the connection after a denied publish).
    assert spool.rows == 0 and uplink.stats["sent"] == 1
    assert "moved to the dead-letter table" in caplog.text


def test_receiver_tls_and_wrong_ca(tls_broker: tuple[LocalBroker, int, int], pki: Path) -> None:
    _, _, mtls_port = tls_broker
    base = [sys.executable, "-m", "edge", "listen", "--broker", f"mqtts://127.0.0.1:{mtls_port}", "--timeout", "1"]
    ok = subprocess.run(
        [*base, "--cafile", str(pki / "ca.crt"), "--cert", str(pki / "client.crt"), "--key", str(pki / "client.key")],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert ok.returncode == 0 and "connected to 127.0.0.1" in ok.stderr, ok.stderr
    bad = subprocess.run([*base, "--cafile", str(pki / "wrongca.crt")], capture_output=True, text=True, timeout=30)
    assert bad.returncode == 1 and "TLS server certificate not trusted" in bad.stderr


@pytest.fixture(scope="module")
def odd_pki(pki: Path) -> Path:
    """A client certificate from an unrelated CA, and a server certificate for another host name."""
    make_cert(pki, "strayclient", "wrongca")
    make_cert(pki, "otherhost", "ca", "DNS:other.example")
    for p in pki.iterdir():
        p.chmod(0o644)
    return pki


def test_mtls_refusal_says_the_broker_refused_and_why(
    tmp_path: Path, tls_broker: tuple[LocalBroker, int, int], odd_pki: Path
) -> None:
    """Mosquitto refuses a client certificate after the TLS 1.3 handshake: with an alert, or (depending on timing)
    by closing the connection; either way the line says the broker refused which certificate, and what to check."""
    _, _, mtls_port = tls_broker
    url, ca = f"mqtts://127.0.0.1:{mtls_port}", str(odd_pki / "ca.crt")
    _, none = _send_one(tmp_path / "none", _settings(url, cafile=ca), wait_s=4)
    line = str(none.health()["last_error"])
    assert "refused us (no client certificate set)" in line and "mqtt.certfile" in line, line
    stray = str(odd_pki / "strayclient.crt")
    _, bad = _send_one(
        tmp_path / "stray", _settings(url, cafile=ca, certfile=stray, keyfile=stray[:-3] + "key"), wait_s=4
    )
    line = str(bad.health()["last_error"])
    assert f"refused our client certificate ({stray})" in line, line
    assert "(tlsv1 alert unknown ca): the broker does not trust the CA" in line or "CA the broker trusts" in line


def test_tls_alert_from_the_server_is_named(tmp_path: Path, odd_pki: Path) -> None:
    """A TLS server that does send an alert (OpenSSL's s_server requiring a client certificate, TLS 1.3)."""
    port = free_port()
    server = subprocess.Popen(
        ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", str(odd_pki / "server.crt"),
         "-key", str(odd_pki / "server.key"), "-CAfile", str(odd_pki / "ca.crt"), "-Verify", "1", "-quiet"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        time.sleep(1.0)
        _, up = _send_one(tmp_path, _settings(f"mqtts://127.0.0.1:{port}", cafile=str(odd_pki / "ca.crt")), wait_s=4)
    finally:
        server.kill()
        server.wait()
    line = str(up.health()["last_error"])
    assert "refused us (no client certificate set) in the TLS handshake" in line, line
    assert "alert certificate required" in line and "set mqtt.certfile and mqtt.keyfile" in line


def test_we_refuse_a_broker_certificate_for_another_host(tmp_path: Path, odd_pki: Path) -> None:
    port = free_port()
    conf = f"listener {port} 127.0.0.1\ncafile {odd_pki}/ca.crt\ncertfile {odd_pki}/otherhost.crt\n"
    conf += f"keyfile {odd_pki}/otherhost.key\n"
    with LocalBroker(tmp_path / "broker", conf):
        spool, up = _send_one(tmp_path / "c", _settings(f"mqtts://127.0.0.1:{port}", cafile=str(odd_pki / "ca.crt")))
    line = str(up.health()["last_error"])
    assert spool.rows == 1
    assert "we refused the broker's certificate" in line and "mismatch" in line, line
