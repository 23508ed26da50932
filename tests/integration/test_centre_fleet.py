"""Two vehicles in one simulated world through the whole chain: two ``edge sim --vehicle`` (one world, one start
time), two ``edge run`` daemons, Mosquitto, ``edge-centre ingest`` (SQLite) and ``edge-centre serve`` (fusion, map,
CoT to a UDP listener standing in for a TAK client). Then: the store's fusion scored against the simulator's truth
(generous bounds for a short run on a loaded machine; figures of a longer run in README.md), every stored sighting
heard by the TAK listener as valid CoT, and the map in headless Chromium showing both vehicles' detections over the
orthophoto (screenshot: out/centre/fleet-map.png, the README's docs/centre-map.jpg).

``FLEET_SECONDS`` sets how long the vehicles run (default 50 s).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
import takproto

from bench.waits import wait_value
from centre.auth import add_user
from centre.cot import is_cot
from centre.store import open_store
from sim.fleet_run import REPO, FleetRun

pytestmark = pytest.mark.integration
SHOTS = REPO / "out" / "centre"
SECONDS = float(os.environ.get("FLEET_SECONDS") or 50)


def _listen(sock: socket.socket, events: dict[str, list[bytes]], stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            data = sock.recv(65536)
        except TimeoutError:
            continue
        events.setdefault(str(is_cot(data).get("uid")), []).append(data)


def test_two_vehicles_one_world_fused_against_the_truth(tmp_path: Path) -> None:
    tak = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tak.bind(("127.0.0.1", 0))
    tak.settimeout(0.3)
    events: dict[str, list[bytes]] = {}
    stop = threading.Event()
    listener = threading.Thread(target=_listen, args=(tak, events, stop), daemon=True)
    listener.start()
    run = FleetRun(
        str(REPO / "sim" / "scenarios" / "border-pair.toml"),
        tmp_path,
        tak_url=f"udp://127.0.0.1:{tak.getsockname()[1]}",
    )
    try:
        run.start()
        deadline = time.monotonic() + SECONDS
        while time.monotonic() < deadline:
            assert run.failed() is None, (
                f"{run.failed()} exited: {(tmp_path / (str(run.failed()) + '.log')).read_text()[-3000:]}"
            )
            time.sleep(1.0)
        run.stop_vehicles()
        store = open_store(run.store_url)
        assert {v["vehicle"] for v in store.vehicles()} == set(run.vehicles)
        if shutil.which("chromium") and shutil.which("chromedriver"):
            add_user(store, "olga", "operator", "op-pass")
            # the map draws the detections that have a position (a vehicle's first frames may come before its pose)
            located = sum(d.lat is not None for d in store.detections(0.0, time.time() + 60))
            _screenshot(f"http://127.0.0.1:{run.api_port}", run.vehicles, located)
        sightings = store.sightings(0, time.time() + 60)
        store.close()
    finally:
        run.stop()
        stop.set()
        listener.join(5)
        tak.close()
    result = run.score()
    print(f"fleet over {SECONDS:.0f} s: {result.line()}")
    assert result.pairs_seen_by_both >= 20, result.line()
    assert result.labelled_by_box >= 0.9 * (result.detections + result.unmatched), "edge listen's boxes missing"
    # The 90 % is met by the 300 s runs in the README (92.7-99.4 %); a 50 s run has too few pairs for it
    # (89.4-99.3 % measured), so this short run holds the line at 85 %.
    assert result.one_sighting_pct >= 85.0, result.line()
    assert result.within_radius_pct >= 85.0, result.line()
    assert any(s["n_sensors"] == 2 for s in sightings), "no sighting fed by both vehicles"
    # a TAK client heard every sighting the centre kept, as CoT that TAK's own library reads
    for s in sightings:
        uid = f"edge-centre-{s['id']}"
        assert uid in events, f"no CoT for sighting {s['id']}"
        msg = takproto.parse_proto(events[uid][-1])
        assert msg.cotEvent.uid == uid and msg.cotEvent.how == "m-f"
        assert abs(msg.cotEvent.lat - s["lat"]) < 1e-6 and abs(msg.cotEvent.lon - s["lon"]) < 1e-6


def _screenshot(base: str, vehicles: list[str], n_detections: int) -> None:
    """Log in, check the map shows both vehicles' detections over the basemap, save the screenshot."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    opts = Options()
    opts.binary_location = shutil.which("chromium") or "chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,800"):
        opts.add_argument(arg)
    drv = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "chromedriver"), options=opts)
    try:
        drv.get(base + "/login")
        drv.find_element(By.ID, "user").send_keys("olga")
        drv.find_element(By.ID, "password").send_keys("op-pass")
        drv.find_element(By.ID, "submit").click()
        wait_value("map data", lambda: drv.execute_script("return document.body.dataset.loaded === '1'"))
        assert {el.text for el in drv.find_elements(By.CSS_SELECTOR, ".veh-label")} == set(vehicles)
        assert len(drv.find_elements(By.CSS_SELECTOR, "path.det")) == n_detections
        assert drv.find_elements(By.CSS_SELECTOR, "path.sighting")
        assert drv.find_elements(By.CSS_SELECTOR, "img.leaflet-image-layer"), "no basemap drawn"
        SHOTS.mkdir(parents=True, exist_ok=True)
        drv.save_screenshot(str(SHOTS / "fleet-map.png"))
    finally:
        drv.quit()
