"""The centre's map page in a real headless Chromium: two vehicles' detections and fused sightings over the
simulator's orthophoto, filters, the time slider, acknowledging an alert and asking a vehicle for an image (both
audited; the request reaches a real Mosquitto). Screenshot: out/centre/map.png (the README's docs/centre-map.png)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from bench.localbroker import LocalBroker, free_port
from centre.auth import add_user
from centre.config import CentreConfig
from centre.feed import Feed
from centre.fusion_eval import evaluate
from centre.ingest import Ingest
from centre.store import open_store
from edge.thumbs import wire
from edge.uplink.conn import Login, make_client
from sim.ortho import render_orthophoto
from sim.scenario import load_scenario
from sim.world import World

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "out" / "centre"

if not (shutil.which("chromium") and shutil.which("chromedriver")):
    pytest.skip("needs Debian's chromium and chromium-driver (make install)", allow_module_level=True)

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

from bench.waits import wait_value  # noqa: E402


def test_map_shows_two_vehicles_detections_and_sightings(tmp_path: Path) -> None:
    world = World(load_scenario(str(REPO / "sim" / "scenarios" / "mss-ridge.toml")), seed=1)
    ortho = tmp_path / "ground.png"
    s, w, n, e = render_orthophoto(world, ortho)
    url = f"sqlite://{tmp_path}/c.db"
    store = open_store(url)
    ingest = Ingest(store, ("person", "vehicle", "boat"))
    payloads: list[tuple[str, bytes]] = []
    evaluate(people=6, seconds=20.0, fps=1.0, origin=((s + n) / 2, (w + e) / 2), t0=time.time() - 60,
             sink=lambda v, p: payloads.append((f"edge/{v}/detections", p)))  # fmt: skip
    ingest.handle(payloads)
    ingest.handle(_thumbnail("mss-a", store.detections(0, time.time() + 60, vehicles=["mss-a"])[0].track))
    feed = Feed(CentreConfig(), store, None)
    while feed.poll():
        pass
    n_sightings = len(store.sightings(0, time.time() + 60, open_only=True))
    assert n_sightings >= 6
    add_user(store, "olga", "operator", "op-pass")
    port = free_port()
    cfg = tmp_path / "centre.toml"
    broker = LocalBroker(tmp_path / "broker")  # started
    vehicle_side = make_client("mss-a", True, Login())  # what the vehicles would hear on their command topics
    heard: list[tuple[str, bytes]] = []
    vehicle_side.on_message = lambda _c, _u, m: heard.append((m.topic, m.payload))
    vehicle_side.connect("127.0.0.1", broker.port)
    vehicle_side.subscribe("edge/+/cmd/thumbnail/#", qos=1)
    vehicle_side.loop_start()
    cfg.write_text(
        f'[store]\nurl = "{url}"\n[mqtt]\nurl = "mqtt://127.0.0.1:{broker.port}"\n[api]\nport = {port}\n'
        f'basemap = "{ortho}"\nbasemap_bounds = [{s}, {w}, {n}, {e}]\n'
    )
    with (tmp_path / "serve.log").open("wb") as log:
        serve = subprocess.Popen(
            [sys.executable, "-m", "centre", "--config", str(cfg), "serve"], stdout=log, stderr=log
        )
    opts = Options()
    opts.binary_location = shutil.which("chromium") or "chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,800"):
        opts.add_argument(arg)
    drv = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "chromedriver"), options=opts)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_value("server", lambda: _up(base), 30)
        drv.get(base + "/")
        assert drv.current_url.endswith("/login")
        drv.find_element(By.ID, "user").send_keys("olga")
        drv.find_element(By.ID, "password").send_keys("op-pass")
        drv.find_element(By.ID, "submit").click()
        wait_value("map data", lambda: drv.execute_script("return document.body.dataset.loaded === '1'"))
        dets = len(drv.find_elements(By.CSS_SELECTOR, "path.det"))
        assert dets == store.count("detections")
        assert len(drv.find_elements(By.CSS_SELECTOR, "path.sighting")) == len(store.sightings(0, time.time() + 60))
        labels = {el.text for el in drv.find_elements(By.CSS_SELECTOR, ".veh-label")}
        assert labels == {"mss-a", "mss-b"}
        assert drv.find_elements(By.CSS_SELECTOR, "img.leaflet-image-layer"), "no basemap drawn"
        shown = "return [...document.querySelectorAll('#thumbs img.thumb')].filter((i) => i.naturalWidth > 0).length"
        wait_value("the thumbnail", lambda: drv.execute_script(shown) == 1)  # sent on request, shown beside the map
        SHOTS.mkdir(parents=True, exist_ok=True)
        drv.save_screenshot(str(SHOTS / "map.png"))
        # acknowledge one alert
        alerts = drv.find_elements(By.CSS_SELECTOR, "#alerts li")
        assert len(alerts) == n_sightings
        drv.find_element(By.CSS_SELECTOR, "#alerts button.ack").click()
        wait_value("one alert fewer", lambda: len(drv.find_elements(By.CSS_SELECTOR, "#alerts li")) == n_sightings - 1)
        assert ("olga", "ack") in [a[1:3] for a in store.audit_log()]
        # ask a vehicle for an image of a track from its detection's popup: the request reaches the broker
        drv.execute_script("document.querySelector('path.det').dispatchEvent(new MouseEvent('click', {bubbles: true}))")
        wait_value("the popup", lambda: drv.find_elements(By.CSS_SELECTOR, ".det-popup button.ask"))
        drv.execute_script("document.querySelector('.det-popup button.ask').click()")
        wait_value("the request at the broker", lambda: heard, 15)
        topic, payload = heard[0]
        request = json.loads(payload)
        assert topic.startswith("edge/mss-") and topic.endswith("/cmd/thumbnail/anonymous"), topic
        assert request["max_bytes"] == 4000 and request["track"] >= 0 and request["frame"] in ("best", "latest"), (
            request
        )
        said = "return document.querySelector('.det-popup .asked')?.textContent ?? ''"
        time.sleep(2.5)  # a refresh of the map redraws the markers: the popup stays open, with what it said
        wait_value("the popup says it asked", lambda: request["id"] in drv.execute_script(said))
        assert ("olga", "ask thumbnail") in [a[1:3] for a in store.audit_log()]
        # a class filter and the slider replaying a past hour (before the scene: nothing)
        drv.execute_script(
            "const c = document.getElementById('f-class'); c.value = 'vehicle'; c.dispatchEvent(new Event('change'));"
        )
        wait_value("class filter", lambda: not drv.find_elements(By.CSS_SELECTOR, "path.det"))
        drv.execute_script(
            "const c = document.getElementById('f-class'); c.value = ''; c.dispatchEvent(new Event('change'));"
            "const u = document.getElementById('f-until'); u.value = -7200; u.dispatchEvent(new Event('change'));"
        )  # fmt: skip
        wait_value("past hour", lambda: "0 detections" in drv.find_element(By.ID, "status").text)
        drv.execute_script(
            "const u = document.getElementById('f-until'); u.value = 0; u.dispatchEvent(new Event('change'));"
        )
        wait_value("back to now", lambda: len(drv.find_elements(By.CSS_SELECTOR, "path.det")) == dets)
    finally:
        drv.quit()
        serve.terminate()
        serve.wait(10)
        vehicle_side.loop_stop()
        broker.stop()


def _thumbnail(vehicle: str, track: int) -> list[tuple[str, bytes]]:
    """What a vehicle sends for a thumbnail request of ``track``: the answer and the image's chunks."""
    img = np.full((64, 48, 3), 80, np.uint8)
    cv2.rectangle(img, (12, 10), (36, 54), (40, 40, 200), -1)
    data = cv2.imencode(".jpg", img)[1].tobytes()
    meta = {"boot": 1, "camera": "cam0", "track": track, "frame": "best", "format": "jpeg", "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(), "chunks": -(-len(data) // 512), "class": "person",
            "score": 0.8, "t_utc": time.time() - 30, "wh": [48, 64]}  # fmt: skip
    topic = f"edge/{vehicle}/thumbnail"
    return [(topic, wire.answer("r1", "centre", "ok", "", **meta))] + [
        (topic, c) for c in wire.chunks("r1", "centre", data, 512)
    ]


def _up(base: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(base + "/login", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False
