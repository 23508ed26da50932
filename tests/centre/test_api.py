"""The GeoJSON API over a real aiohttp server and a SQLite store: login, roles, queries, exports, audit."""

from __future__ import annotations

import asyncio
import base64
import sqlite3
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from centre.api import Ask, CentreApi
from centre.auth import add_user
from centre.fleet import FleetPlan, make_payloads
from centre.ingest import Ingest
from centre.store import Store, open_store

T0 = FleetPlan().t0


def _store(tmp_path: Path) -> Store:
    store = open_store(f"sqlite://{tmp_path}/c.db")
    payloads = make_payloads(FleetPlan(vehicles=2, records=10))
    Ingest(store, ("person", "vehicle", "boat")).handle(
        [(f"edge/{v}/detections", p) for v, recs in payloads.items() for p in recs]
    )
    add_user(store, "olga", "operator", "op-pass")
    add_user(store, "anna", "analyst", "an-pass")
    return store


def run(tmp_path: Path, body: Callable[[TestClient, Store], Awaitable[None]], ask: Ask | None = None) -> None:
    store = _store(tmp_path)

    async def main() -> None:
        async with TestClient(TestServer(CentreApi(store, ask=ask).app())) as client:
            await body(client, store)

    asyncio.run(main())


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_queries_need_a_login_and_are_audited(tmp_path: Path) -> None:
    async def body(c: TestClient, store: Store) -> None:
        assert (await c.get("/api/detections")).status == 401
        assert (await c.get("/api/detections", headers=basic("olga", "wrong"))).status == 401
        r = await c.post("/api/login", data={"user": "olga", "password": "op-pass"})
        assert r.status == 200 and (await r.json())["role"] == "operator"
        r = await c.get(
            "/api/detections", params={"start": T0 - 1, "end": T0 + 100, "bbox": "16.99,47.99,17.01,48.005"}
        )
        fc = await r.json()
        assert r.status == 200 and fc["type"] == "FeatureCollection" and len(fc["features"]) == 20
        assert {f["properties"]["vehicle"] for f in fc["features"]} == {"veh-00"}
        assert fc["features"][0]["geometry"]["type"] == "Point"
        log = store.audit_log()
        assert [a[1:3] for a in log] == [("olga", "login"), ("olga", "query detections")]
        assert '"n": 20' in log[1][3]

    run(tmp_path, body)


def test_bad_parameters_say_what_is_wrong(tmp_path: Path) -> None:
    async def body(c: TestClient, _s: Store) -> None:
        r = await c.get("/api/detections", params={"bbox": "1,2,3"}, headers=basic("olga", "op-pass"))
        assert r.status == 400 and "bbox" in await r.text()
        r = await c.get("/api/detections", params={"start": "yesterday"}, headers=basic("olga", "op-pass"))
        assert r.status == 400 and "start: not POSIX seconds or ISO 8601" in await r.text()

    run(tmp_path, body)


def test_exports_are_for_analysts(tmp_path: Path) -> None:
    async def body(c: TestClient, store: Store) -> None:
        window = {"start": "2026-05-28T20:26:00Z", "end": "2026-05-28T20:28:00Z"}
        assert (await c.get("/api/export.csv", params=window, headers=basic("olga", "op-pass"))).status == 403
        r = await c.get("/api/export.csv", params=window, headers=basic("anna", "an-pass"))
        lines = (await r.text()).splitlines()
        assert r.status == 200 and lines[0].startswith("vehicle,boot,seq,idx,t,time_utc") and len(lines) == 41
        r = await c.get("/api/export.gpkg", params=window, headers=basic("anna", "an-pass"))
        assert r.status == 200
        path = tmp_path / "x.gpkg"
        path.write_bytes(await r.read())
        con = sqlite3.connect(path)
        assert con.execute("PRAGMA application_id").fetchone()[0] == 0x47504B47
        assert con.execute("SELECT geometry_type_name, srs_id FROM gpkg_geometry_columns").fetchall() == [
            ("POINT", 4326)
        ]
        blob, lat, lon = con.execute("SELECT geom, lat, lon FROM detections LIMIT 1").fetchone()
        assert blob[:2] == b"GP" and struct.unpack("<i", blob[4:8])[0] == 4326
        assert struct.unpack("<dd", blob[-16:]) == (lon, lat)
        assert con.execute("SELECT COUNT(*) FROM detections").fetchone()[0] == 40
        assert [a[2] for a in store.audit_log()] == ["export csv", "export gpkg"]

    run(tmp_path, body)


def test_operators_acknowledge_alerts(tmp_path: Path) -> None:
    async def body(c: TestClient, store: Store) -> None:
        store.save_sightings([("s1", T0, T0 + 1, "person", 48.0, 17.0, 5.0, 2, '["a/1/cam0/1"]')])
        q = {"start": T0 - 1, "end": T0 + 100, "open": "1"}
        fc = await (await c.get("/api/sightings", params=q, headers=basic("olga", "op-pass"))).json()
        assert [f["id"] for f in fc["features"]] == ["s1"] and fc["features"][0]["properties"]["error_m"] == 5.0
        assert (await c.post("/api/sightings/s1/ack", headers=basic("anna", "an-pass"))).status == 403
        r = await c.post("/api/sightings/s1/ack", headers=basic("olga", "op-pass"))
        assert (await r.json())["acked"] is True
        fc = await (await c.get("/api/sightings", params=q, headers=basic("olga", "op-pass"))).json()
        assert fc["features"] == []
        assert ("olga", "ack") in [a[1:3] for a in store.audit_log()]

    run(tmp_path, body)


def test_vehicles_and_gaps(tmp_path: Path) -> None:
    async def body(c: TestClient, store: Store) -> None:
        auth = basic("olga", "op-pass")
        fc = await (await c.get("/api/vehicles", headers=auth)).json()
        assert [f["id"] for f in fc["features"]] == ["veh-00", "veh-01"]
        assert fc["features"][0]["geometry"]["coordinates"][1] == pytest.approx(48.0 + 9e-6, abs=1e-7)  # seq 9
        assert await (await c.get("/api/gaps", headers=auth)).json() == []

    run(tmp_path, body)


def test_operators_ask_a_vehicle_for_a_thumbnail(tmp_path: Path) -> None:
    asked: list[tuple[dict[str, object], str]] = []

    def ask(request: dict[str, object], vehicle: str) -> tuple[bool, str]:  # stands in for the MQTT publish
        asked.append((request, vehicle))
        return (True, str(request["id"])) if vehicle != "veh-refused" else (False, "the broker refused the request")

    async def body(c: TestClient, store: Store) -> None:
        op = basic("olga", "op-pass")
        r = await c.post("/api/thumbnails", json={"vehicle": "veh-00", "track": 3, "boot": 1}, headers=op)
        assert r.status == 202, await r.text()
        got = await r.json()
        assert asked[-1] == ({k: got[k] for k in asked[-1][0]}, "veh-00") and got["max_bytes"] == 4000
        assert asked[-1][0]["frame"] == "best" and asked[-1][0]["camera"] == "cam0" and asked[-1][0]["boot"] == 1
        assert ("olga", "ask thumbnail") in [a[1:3] for a in store.audit_log()]
        r = await c.post("/api/thumbnails", json={"vehicle": "veh-00", "track": 3}, headers=basic("anna", "an-pass"))
        assert r.status == 403  # analysts look; operators ask
        for bad, says in [
            ({"vehicle": "veh-00", "track": -1}, "track:"),
            ({"vehicle": "veh-00", "track": 3, "frame": "worst"}, "frame:"),
            ({"vehicle": "edge/#", "track": 3}, "vehicle:"),
            ({"vehicle": "veh-00", "track": 3, "max_bytes": "lots"}, "max_bytes:"),
            ([1, 2], "not a JSON object"),
        ]:
            r = await c.post("/api/thumbnails", json=bad, headers=op)
            assert r.status == 400 and says in await r.text(), (bad, await r.text())
        r = await c.post("/api/thumbnails", data=b"{not json", headers=op)
        assert r.status == 400
        n = len(asked)
        r = await c.post("/api/thumbnails", json={"vehicle": "veh-refused", "track": 3}, headers=op)
        assert r.status == 502 and "refused" in await r.text() and len(asked) == n + 1

    run(tmp_path, body, ask)


def test_a_centre_without_a_broker_says_so(tmp_path: Path) -> None:
    async def body(c: TestClient, store: Store) -> None:
        r = await c.post("/api/thumbnails", json={"vehicle": "veh-00", "track": 3}, headers=basic("olga", "op-pass"))
        assert r.status == 503 and "mqtt.url" in await r.text()

    run(tmp_path, body)


def test_fuzzed_parameters_and_bodies_are_answered_4xx_never_500(tmp_path: Path) -> None:
    odd = ["", "x", "nan", "inf", "-inf", "1e400", "-1", "9" * 400, "2026-13-45", "1,2,3", "nan,nan,nan,nan", "\x00"]
    gets = {"/api/detections": ["start", "end", "bbox", "class", "vehicle", "camera"], "/api/sightings": ["start",
            "end", "open"], "/api/export.csv": ["start", "end", "bbox"], "/api/thumbnails": ["vehicle", "since"]}  # fmt: skip
    bodies = [b"", b"x", b"[]", b"[" * 50_000, b'{"vehicle": 5}', b'{"vehicle": "v", "track": 1e400}',
              b'{"vehicle": "v/#", "track": 1}', b'{"vehicle": "v", "track": 1, "bogus": 1}']  # fmt: skip

    async def body(c: TestClient, _s: Store) -> None:
        await c.post("/api/login", data={"user": "anna", "password": "an-pass"})
        for path, keys in gets.items():
            for key in keys:
                for value in odd:
                    r = await c.get(path, params={key: value})
                    assert r.status < 500, (path, key, value, r.status)
        await c.post("/api/login", data={"user": "olga", "password": "op-pass"})
        for b in bodies:
            r = await c.post("/api/thumbnails", data=b, headers={"Content-Type": "application/json"})
            assert 400 <= r.status < 500, (b[:20], r.status)

    run(tmp_path, body, ask=lambda _req, _v: (True, "never asked"))
