"""The centre's web server (aiohttp): GeoJSON API, exports, login, and the map page.

Every request but the login needs a session (cookie from ``POST /api/login``) or HTTP Basic credentials of a
user in the store. Every query, export and acknowledgement is written to the audit log (who, when, what).

    GET  /api/detections?start=&end=&bbox=W,S,E,N&class=&vehicle=&camera=   GeoJSON FeatureCollection
    GET  /api/sightings?start=&end=&open=1                                   GeoJSON, error_m per feature
    GET  /api/vehicles                                                       last position of each vehicle
    GET  /api/gaps                                                           missing seq ranges per boot
    POST /api/sightings/{id}/ack                                             acknowledge an alert (operator)
    GET  /api/export.csv | /api/export.gpkg  (same filters)                  reports (analyst)
    GET  /api/thumbnails?vehicle=&since=                                     answers to thumbnail requests
    POST /api/thumbnails  {"vehicle", "track", "camera"?, "frame"?, ...}     ask a vehicle for a crop (operator)
    GET  /api/thumbnails/{vehicle}/{requester}/{id}                          the image (JPEG or WebP)
start/end: POSIX seconds or ISO 8601 (default: the last hour).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import math
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

import edge
from centre.ask import checked_request
from centre.auth import PERMISSIONS, Sessions, check_login
from centre.export import to_csv, to_gpkg
from centre.store import Store
from centre.store.rows import Detection
from centre.thumbnails import MEDIA, assemble
from edge.console.basemap import Basemap, BasemapError
from edge.console.settings import ConsoleSettings
from edge.thumbs.wire import BadRequest

log = logging.getLogger("centre.api")
STATIC = Path(__file__).parent / "static"
CONSOLE = Path(edge.__file__).parent / "console" / "static"
LEAFLET = CONSOLE / "vendor" / "leaflet"  # the vehicle console's copy
BASEMAP_JS = CONSOLE / "basemap.js"  # the console's basemap set-up
COOKIE = "edge_centre"
USER = web.RequestKey("user", tuple)
PUBLIC = ("/login", "/api/login", "/static/", "/vendor/")
T = TypeVar("T")
Ask = Callable[[dict[str, Any], str], tuple[bool, str]]  # (request, vehicle) -> (published, its id or why not)


def _time(text: str, name: str) -> float:
    try:
        t = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(t):
            raise web.HTTPBadRequest(text=f"{name}: not a finite time: {text!r}")
        return t
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise web.HTTPBadRequest(text=f"{name}: not POSIX seconds or ISO 8601: {text!r}") from None


def _filters(q: Any) -> dict[str, Any]:
    end = _time(q["end"], "end") if "end" in q else time.time()
    start = _time(q["start"], "start") if "start" in q else end - 3600.0
    if end <= start:
        raise web.HTTPBadRequest(text="end must be after start")
    f: dict[str, Any] = {"t0": start, "t1": end}
    if q.get("bbox"):
        try:
            w, s, e, n = (float(x) for x in q["bbox"].split(","))
        except ValueError:
            raise web.HTTPBadRequest(text="bbox: four numbers west,south,east,north (degrees)") from None
        if not (-180 <= w <= e <= 180 and -90 <= s <= n <= 90):
            raise web.HTTPBadRequest(text="bbox: west <= east, south <= north, within -180..180 / -90..90")
        f["bbox"] = (w, s, e, n)
    for key, arg in (("class", "classes"), ("vehicle", "vehicles"), ("camera", "cameras")):
        if q.get(key):
            f[arg] = q[key].split(",")
    return f


def _feature(d: Detection) -> dict[str, Any]:
    geom = None if d.lat is None else {"type": "Point", "coordinates": [d.lon, d.lat]}
    return {
        "type": "Feature",
        "id": f"{d.vehicle}-{d.boot}-{d.seq}-{d.idx}",
        "geometry": geom,
        "properties": {
            "vehicle": d.vehicle, "camera": d.camera, "t": d.t, "class": d.class_name, "confidence": d.confidence,
            "track": d.track, "kind": d.kind, "alt": d.alt, "error_m": d.error_m, "boot": d.boot, "seq": d.seq,
        },
    }  # fmt: skip


def load_basemap(path: str | None, bounds: tuple[float, float, float, float] | None) -> Basemap:
    """The vehicle console's offline basemap reader; BasemapError names the centre's keys (api.basemap...)."""
    try:
        return Basemap(ConsoleSettings(basemap=path, basemap_bounds=bounds))
    except BasemapError as err:
        raise BasemapError(str(err).replace("console.", "api.")) from None


class CentreApi:
    """The aiohttp application over one store (its calls serialised by a lock and run off the event loop)."""

    def __init__(
        self,
        store: Store,
        session_hours: float = 12.0,
        basemap: Basemap | None = None,
        ask: Ask | None = None,
        max_bytes: int = 4000,
    ) -> None:
        """``ask``: publishes a thumbnail request (centre.ask; None: no broker to ask through); ``max_bytes``: the
        byte limit of a request that names none."""
        self.store = store
        self.ask = ask
        self.max_bytes = max_bytes
        self.basemap = basemap or Basemap(ConsoleSettings())
        self.lock = threading.Lock()
        self.sessions = Sessions(session_hours * 3600)

    async def db(self, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
        def call() -> T:
            with self.lock:
                return fn(*args, **kw)

        return await asyncio.to_thread(call)

    async def audit(self, request: web.Request, action: str, detail: dict[str, Any]) -> None:
        await self.db(self.store.audit, time.time(), request[USER][0], action, detail)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard])
        r = app.router
        r.add_get("/", self._index)
        r.add_get("/login", self._login_page)
        r.add_post("/api/login", self._login)
        r.add_get("/api/detections", self._detections)
        r.add_get("/api/sightings", self._sightings)
        r.add_post("/api/sightings/{id}/ack", self._ack)
        r.add_get("/api/vehicles", self._vehicles)
        r.add_get("/api/gaps", self._gaps)
        r.add_get("/api/export.csv", self._export)
        r.add_get("/api/export.gpkg", self._export)
        r.add_get("/api/thumbnails", self._thumbnails)
        r.add_post("/api/thumbnails", self._ask)
        r.add_get("/api/thumbnails/{vehicle}/{requester}/{id}", self._thumbnail)
        r.add_get("/api/basemap", self._basemap_info)
        r.add_get("/api/basemap.img", self._basemap_image)
        r.add_get("/api/tiles/{z:\\d+}/{x:\\d+}/{y:\\d+}", self._tile)
        if STATIC.is_dir():
            r.add_static("/static", STATIC, follow_symlinks=False)
        if LEAFLET.is_dir():
            r.add_static("/vendor/leaflet", LEAFLET, follow_symlinks=False)
        r.add_get("/vendor/basemap.js", self._basemap_js)
        return app

    async def _who(self, request: web.Request) -> tuple[str, str] | None:
        found = self.sessions.get(request.cookies.get(COOKIE, ""))
        auth = request.headers.get("Authorization", "")
        if found is None and auth.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(auth[6:]).decode("utf-8").partition(":")
            except ValueError:
                return None
            role = await self.db(check_login, self.store, user, password)
            found = (user, role) if role else None
        return found

    @web.middleware
    async def _guard(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        who = await self._who(request)
        if who is None and not request.path.startswith(PUBLIC):
            if request.path.startswith("/api/"):
                raise web.HTTPUnauthorized(text="log in first (POST /api/login, or HTTP Basic)")
            raise web.HTTPSeeOther("/login")
        request[USER] = who or ("", "")
        return await handler(request)

    def _need(self, request: web.Request, permission: str) -> None:
        if request[USER][1] not in PERMISSIONS[permission]:
            raise web.HTTPForbidden(text=f"{permission}: not allowed for role {request[USER][1]!r}")

    async def _index(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    async def _login_page(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "login.html", headers={"Cache-Control": "no-store"})

    async def _login(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        user, password = str(form.get("user", "")), str(form.get("password", ""))
        role = await self.db(check_login, self.store, user, password)
        if role is None:
            await asyncio.sleep(0.5)  # slows guessing
            log.warning("wrong login for %r from %s", user, request.remote)
            raise web.HTTPUnauthorized(text="wrong user name or password")
        await self.db(self.store.audit, time.time(), user, "login", {"role": role, "from": request.remote})
        resp = web.json_response({"user": user, "role": role})
        resp.set_cookie(COOKIE, self.sessions.open(user, role), httponly=True, samesite="Strict")
        return resp

    async def _detections(self, request: web.Request) -> web.StreamResponse:
        self._need(request, "view")
        f = _filters(request.query)
        dets = await self.db(self.store.detections, **f)
        await self.audit(request, "query detections", {**f, "n": len(dets)})
        return web.json_response({"type": "FeatureCollection", "features": [_feature(d) for d in dets]})

    async def _sightings(self, request: web.Request) -> web.StreamResponse:
        self._need(request, "view")
        f = _filters(request.query)
        rows = await self.db(self.store.sightings, f["t0"], f["t1"], request.query.get("open") == "1")
        await self.audit(request, "query sightings", {"t0": f["t0"], "t1": f["t1"], "n": len(rows)})
        feats = [
            {
                "type": "Feature",
                "id": s["id"],
                "geometry": {"type": "Point", "coordinates": [s["lon"], s["lat"]]},
                "properties": {k: v for k, v in s.items() if k not in ("lat", "lon", "id")},
            }
            for s in rows
        ]
        return web.json_response({"type": "FeatureCollection", "features": feats})

    async def _ack(self, request: web.Request) -> web.StreamResponse:
        self._need(request, "ack")
        sid = request.match_info["id"]
        ok = await self.db(self.store.ack_sighting, sid, request[USER][0])
        await self.audit(request, "ack", {"sighting": sid, "changed": ok})
        return web.json_response({"id": sid, "acked": ok})

    async def _vehicles(self, request: web.Request) -> web.StreamResponse:
        self._need(request, "view")
        rows = await self.db(self.store.vehicles)
        feats = [
            {
                "type": "Feature",
                "id": v["vehicle"],
                "geometry": None if v["lat"] is None else {"type": "Point", "coordinates": [v["lon"], v["lat"]]},
                "properties": {k: v.get(k) for k in ("vehicle", "t", "camera", "alt", "boot", "status")},
            }
            for v in rows
        ]
        return web.json_response({"type": "FeatureCollection", "features": feats})

    async def _gaps(self, request: web.Request) -> web.StreamResponse:
        self._need(request, "view")
        gaps = await self.db(self.store.gaps, request.query.get("vehicle") or None)
        return web.json_response(
            [{"vehicle": g.vehicle, "boot": g.boot, "first": g.first, "last": g.last} for g in gaps]
        )

    async def _thumbnails(self, request: web.Request) -> web.StreamResponse:
        self._need(request, "view")
        vehicle, since = request.query.get("vehicle") or None, _time(request.query.get("since", "0"), "since")
        answers, _ = assemble(await self.db(self.store.thumbnail_parts, vehicle, since))
        await self.audit(request, "query thumbnails", {"vehicle": vehicle, "since": since, "n": len(answers)})
        return web.json_response(answers)

    async def _ask(self, request: web.Request) -> web.StreamResponse:
        self._need(request, "ask")
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise BadRequest("the body is not a JSON object")
            vehicle = str(body.pop("vehicle", ""))
            asked = checked_request({"max_bytes": self.max_bytes, **body}, vehicle)
        except ValueError as err:  # not JSON, or BadRequest
            raise web.HTTPBadRequest(text=str(err)) from None
        except RecursionError:
            raise web.HTTPBadRequest(text="not JSON: nested too deeply") from None
        if self.ask is None:
            raise web.HTTPServiceUnavailable(text="the centre has no MQTT broker to ask through (mqtt.url)")
        ok, text = await asyncio.to_thread(self.ask, asked, vehicle)
        await self.audit(request, "ask thumbnail", {"vehicle": vehicle, **asked, "published": ok})
        if not ok:
            raise web.HTTPBadGateway(text=text)
        return web.json_response({"id": text, "vehicle": vehicle, **asked}, status=202)

    async def _thumbnail(self, request: web.Request) -> web.StreamResponse:
        self._need(request, "view")
        key = (request.match_info["vehicle"], request.match_info["requester"], request.match_info["id"])
        _, images = assemble(await self.db(self.store.thumbnail_parts, key[0]))
        img = images.get(key)
        await self.audit(request, "view thumbnail", {"key": list(key), "found": img is not None})
        if img is None:
            raise web.HTTPNotFound(text="no such thumbnail (or not all of it has arrived)")
        return web.Response(body=img.data, content_type=MEDIA.get(str(img.meta.get("format")), "image/jpeg"))

    async def _basemap_js(self, _request: web.Request) -> web.StreamResponse:
        return web.FileResponse(BASEMAP_JS)

    async def _basemap_info(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.basemap.info())

    async def _basemap_image(self, request: web.Request) -> web.StreamResponse:
        found = self.basemap.image()
        if found is None:
            raise web.HTTPNotFound()
        return web.Response(body=found[0], content_type=found[1])

    async def _tile(self, request: web.Request) -> web.StreamResponse:
        m = request.match_info
        data = await asyncio.to_thread(self.basemap.tile, int(m["z"]), int(m["x"]), int(m["y"]))
        if data is None:
            raise web.HTTPNotFound()
        kind = "image/png" if data[:4] == b"\x89PNG" else "image/jpeg"
        return web.Response(body=data, content_type=kind, headers={"Cache-Control": "max-age=3600"})

    async def _export(self, request: web.Request) -> web.StreamResponse:
        self._need(request, "export")
        f = _filters(request.query)
        dets = await self.db(self.store.detections, **f)
        fmt = "gpkg" if request.path.endswith(".gpkg") else "csv"
        await self.audit(request, f"export {fmt}", {**f, "n": len(dets)})
        name = f"detections-{int(f['t0'])}-{int(f['t1'])}.{fmt}"
        disp = {"Content-Disposition": f'attachment; filename="{name}"'}
        if fmt == "csv":
            return web.Response(text=to_csv(dets), content_type="text/csv", headers=disp)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            await asyncio.to_thread(to_gpkg, dets, path)
            body = path.read_bytes()
        return web.Response(body=body, content_type="application/geopackage+sqlite3", headers=disp)
