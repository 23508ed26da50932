"""ConsoleServer: the aiohttp server on its own thread and event loop; a Stage of the daemon.

Pages and their files come from ``edge/console/static`` (Leaflet is unpacked into ``static/vendor`` by
``make install``: nothing is fetched at run time, the vehicle is offline). Live updates are server-sent events
from ``/api/stream``; each page gets a bounded queue, and what does not fit is dropped (counted), so a slow or
gone browser never holds anything up. ``/metrics`` is the Prometheus text format.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from edge.config import Config
from edge.console.acks import AckLog
from edge.console.auth import COOKIE, Auth, AuthError
from edge.console.basemap import Basemap, BasemapError
from edge.console.config_view import config_view
from edge.console.hub import ConsoleHub
from edge.console.live import LiveFrames, ViewFn
from edge.console.metrics import Metrics
from edge.console.settings import ConsoleSettings
from edge.console.system import system_health
from edge.stages import Health
from edge.types import Pose

log = logging.getLogger("edge.console")
STATIC = Path(__file__).parent / "static"
MAX_CLIENTS = 16
QUEUE = 64  # messages waiting per page before they are dropped
USER = web.RequestKey("user", str)  # who the request is from (edge.console.auth.Auth.user)
KEEPALIVE_S = 15.0
POSE_S = 1.0  # the platform's pose and the camera's footprint go to the map this often
PUBLIC = ("/login", "/static/style.css", "/static/login.js")
HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'",
}


@dataclass(eq=False)
class Client:
    """One open event stream; ``live`` is the camera whose frames it wants (None: no frames)."""

    live: str | None
    queue: asyncio.Queue[tuple[str, Any]] = field(default_factory=lambda: asyncio.Queue(QUEUE))
    dropped: int = 0


class ConsoleServer:
    """Serves the console; ``start`` returns once it listens (or raises OSError naming the address)."""

    name = "console"

    def __init__(
        self,
        settings: ConsoleSettings,
        hub: ConsoleHub,
        state_dir: Path,
        config_view: dict[str, Any],
        view: ViewFn | None = None,
        max_range_m: float = 5000.0,
        pose_at: Callable[[float], Pose | None] | None = None,
    ) -> None:
        self.settings = settings
        self.hub = hub
        self.state_dir = state_dir
        self.config_view = config_view
        self.auth = Auth(settings)
        self.basemap = Basemap(settings)
        self.metrics = Metrics(hub)
        self.acks = AckLog(state_dir / "console-acks.jsonl")
        self.live = LiveFrames(settings, hub, view, max_range_m, pose_at)
        self.clients: set[Client] = set()
        self.dropped = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stopping: asyncio.Event | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.settings.tls_cert else "http"
        host = self.settings.bind
        host = "127.0.0.1" if host in ("0.0.0.0", "") else host
        host = f"[{host}]" if ":" in host else host
        return f"{scheme}://{host}:{self.settings.port}/"

    # -- Stage ------------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Listen; a console that cannot (port in use, unreadable certificate) is logged and reported in health,
        and the daemon goes on detecting without it."""
        self._thread = threading.Thread(target=self._run, name="console", daemon=True)
        self._thread.start()
        self._ready.wait(15)
        if self._error is not None:
            log.error("console is off: %s", self._error)
            return
        log.info("console at %s (imagery stays on this network)", self.url)

    def stop(self) -> None:
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stopping.set)
        if self._thread is not None:
            self._thread.join(timeout=3)
        self.hub.set_wake(None)

    def health(self) -> Health:
        return {
            "state": "error"
            if self._error
            else "ok"
            if self._thread is not None and self._thread.is_alive()
            else "stopped",
            "last_error": str(self._error) if self._error else "",
            "url": self.url,
            "clients": len(self.clients),
            "frames_encoded": self.live.encoded,
            "messages_dropped": self.dropped,
            **self.hub.stage_health(),
        }

    # -- the loop -------------------------------------------------------------------------------------------
    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as err:  # a port in use, a bad certificate: start() raises it
            self._error = err
            self._ready.set()
        finally:
            loop.close()

    async def _serve(self) -> None:
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        wake = self._wake

        def poke() -> None:
            loop.call_soon_threadsafe(wake.set)

        self.hub.set_wake(poke)
        runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.settings.bind, self.settings.port, ssl_context=self._tls())
        try:
            await site.start()
        except OSError as err:
            await runner.cleanup()
            raise OSError(
                f"console.bind/console.port {self.settings.bind}:{self.settings.port}: {err.strerror}"
            ) from None
        self._ready.set()
        pump = asyncio.create_task(self._pump())
        await self._stopping.wait()
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump
        for client in list(self.clients):
            client.queue.put_nowait(("bye", {}))
        await runner.cleanup()

    def _tls(self) -> ssl.SSLContext | None:
        s = self.settings
        if not s.tls_cert and not s.tls_key:
            return None
        if not (s.tls_cert and s.tls_key):
            raise ValueError("console.tls_cert and console.tls_key: set both or neither")
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            ctx.load_cert_chain(s.tls_cert, s.tls_key)
        except (OSError, ssl.SSLError) as err:
            raise ValueError(f"console.tls_cert/console.tls_key: cannot load: {err}") from None
        return ctx

    async def _pump(self) -> None:
        """Push what the hub drained to every page; frames to watching pages at ``console.fps``."""
        assert self._wake is not None
        period = 1.0 / self.settings.fps
        next_frame = next_pose = time.monotonic()
        loop = asyncio.get_running_loop()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.0, next_frame - time.monotonic()))
            self._wake.clear()
            for kind, data in self.hub.drain():
                if kind == "health":
                    data = {**data, "system": system_health(self.state_dir)}
                self.broadcast(kind, data)
            if self.clients and time.monotonic() >= next_pose:
                next_pose = time.monotonic() + POSE_S
                for camera in self.hub.cameras():
                    if (platform := self.live.platform(camera)) is not None:
                        self.broadcast("pose", {"camera": camera, "pose": platform})
            if time.monotonic() >= next_frame:
                next_frame = time.monotonic() + period
                for camera in {c.live for c in self.clients if c.live}:
                    frame = self.live.due(camera)
                    if frame is None:
                        continue
                    try:
                        await loop.run_in_executor(None, self.live.encode, frame)
                    except (ValueError, OSError) as err:
                        log.warning("console: %s", err)
                        continue
                    self.broadcast("frame", self.live.message(frame), camera)

    def broadcast(self, kind: str, data: Any, camera: str | None = None) -> None:
        """Queue a message on every page (only those watching ``camera`` for frames); drop where full."""
        for client in self.clients:
            if camera is not None and client.live != camera:
                continue
            try:
                client.queue.put_nowait((kind, data))
            except asyncio.QueueFull:
                client.dropped += 1
                self.dropped += 1

    # -- the web app ------------------------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard], client_max_size=64 * 1024)
        app.router.add_get("/", self._index)
        app.router.add_get("/login", self._login_page)
        app.router.add_post("/login", self._login)
        app.router.add_post("/logout", self._logout)
        app.router.add_get("/api/state", self._state)
        app.router.add_get("/api/stream", self._stream)
        app.router.add_get("/api/frame/{camera}.jpg", self._frame)
        app.router.add_post("/api/ack", self._ack)
        app.router.add_get("/api/thumbnail/{n:\\d+}", self._thumbnail)
        app.router.add_get("/api/basemap", self._basemap_image)
        app.router.add_get("/api/tiles/{z:\\d+}/{x:\\d+}/{y:\\d+}", self._tile)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_static("/static", STATIC, follow_symlinks=False)
        return app

    @web.middleware
    async def _guard(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        bearer = request.headers.get("Authorization", "")
        user = self.auth.user(request.cookies.get(COOKIE), bearer.removeprefix("Bearer ") if bearer else None)
        if user is None and request.path not in PUBLIC:
            if request.path.startswith(("/api/", "/metrics")):
                raise web.HTTPUnauthorized(text="log in first")
            raise web.HTTPSeeOther("/login")
        request[USER] = user or ""  # "" only on the login page and its files
        resp = await handler(request)
        resp.headers.update(HEADERS)
        return resp

    async def _index(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    async def _login_page(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "login.html", headers={"Cache-Control": "no-store"})

    async def _login(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        token = self.auth.login(str(form.get("user", "")), str(form.get("password", "")))
        if token is None:
            await asyncio.sleep(0.5)  # slows guessing
            log.warning("console: wrong password from %s", request.remote)
            raise web.HTTPSeeOther("/login?failed=1")
        resp = web.HTTPSeeOther("/")
        resp.set_cookie(
            COOKIE,
            token,
            httponly=True,
            samesite="Strict",
            secure=bool(self.settings.tls_cert),
            max_age=int(self.auth.lifetime_s),
        )
        raise resp

    async def _logout(self, request: web.Request) -> web.StreamResponse:
        self.auth.logout(request.cookies.get(COOKIE, ""))
        resp = web.HTTPSeeOther("/login")
        resp.del_cookie(COOKIE)
        raise resp

    async def _state(self, request: web.Request) -> web.StreamResponse:
        health = self.hub.health
        if health is not None:
            health = {**health, "system": system_health(self.state_dir)}
        return web.json_response(
            {
                "user": request[USER],
                "login": self.auth.required,
                "alerts": list(self.hub.alerts),
                "thumbnails": [js for js, _ in self.hub.thumbnails.values()],
                "health": health,
                "map": self.hub.map_state(),
                "cameras": self.hub.cameras(),
                "basemap": self.basemap.info(),
                "config": self.config_view,
                "fps": self.settings.fps,
            },
            dumps=lambda o: json.dumps(o, default=str),
        )

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        if len(self.clients) >= MAX_CLIENTS:
            raise web.HTTPServiceUnavailable(text=f"at most {MAX_CLIENTS} pages at once")
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store", **HEADERS})
        await resp.prepare(request)
        client = Client(live=request.query.get("live") or None)
        self.clients.add(client)
        try:
            await resp.write(b"retry: 2000\n\n")
            while True:
                try:
                    kind, data = await asyncio.wait_for(client.queue.get(), KEEPALIVE_S)
                except TimeoutError:
                    await resp.write(b": keepalive\n\n")
                    continue
                if kind == "bye":
                    break
                await resp.write(f"event: {kind}\ndata: {json.dumps(data, default=str)}\n\n".encode())
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.clients.discard(client)
        return resp

    async def _frame(self, request: web.Request) -> web.StreamResponse:
        jpeg = self.live.jpegs.get(request.match_info["camera"])
        if jpeg is None:
            raise web.HTTPNotFound(text="no frame yet")
        return web.Response(body=jpeg.data, content_type="image/jpeg", headers={"Cache-Control": "no-store"})

    async def _thumbnail(self, request: web.Request) -> web.StreamResponse:
        got = self.hub.thumbnails.get(int(request.match_info["n"]))
        if got is None:
            raise web.HTTPNotFound(text="no such thumbnail (only the newest are kept)")
        kind = "image/webp" if got[1][:4] == b"RIFF" else "image/jpeg"
        return web.Response(body=got[1], content_type=kind, headers={"Cache-Control": "no-store"})

    async def _ack(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
            alert_id = int(body["id"])
        except (ValueError, KeyError, TypeError):
            raise web.HTTPBadRequest(text='send {"id": ALERT_ID, "by": "NAME"}') from None
        user = request[USER]
        by = str(body.get("by") or user)[:64] if user in ("local", "token") else user
        alert = next((a for a in self.hub.alerts if a["id"] == alert_id), None)
        if alert is None:
            raise web.HTTPNotFound(text=f"no alert {alert_id} (only the newest are kept)")
        if alert["ack"] is None:
            alert["ack"] = self.acks.record(alert, by)
            self.broadcast("ack", {"id": alert_id, "ack": alert["ack"]})
        return web.json_response(alert["ack"])

    async def _basemap_image(self, request: web.Request) -> web.StreamResponse:
        got = self.basemap.image()
        if got is None:
            raise web.HTTPNotFound(text="no orthophoto basemap configured")
        return web.Response(body=got[0], content_type=got[1], headers={"Cache-Control": "max-age=3600"})

    async def _tile(self, request: web.Request) -> web.StreamResponse:
        m = request.match_info
        data = self.basemap.tile(int(m["z"]), int(m["x"]), int(m["y"]))
        if data is None:
            raise web.HTTPNotFound()
        mime = "image/png" if data[:4] == b"\x89PNG" else "image/jpeg"
        return web.Response(body=data, content_type=mime, headers={"Cache-Control": "max-age=3600"})

    async def _metrics(self, request: web.Request) -> web.StreamResponse:
        return web.Response(body=self.metrics.text(), headers={"Content-Type": "text/plain; version=0.0.4"})


def build_console(
    cfg: Config,
    state_dir: Path,
    view: ViewFn | None,
    pose_at: Callable[[float], Pose | None] | None = None,
) -> tuple[ConsoleHub, ConsoleServer]:
    """``view``: GroundGeolocator.view; ``pose_at``: the pose store's. The hub (the pipeline's sink and observer, the daemon's health sink) and the server (a Stage).

    Raises ConsoleError for a config the console cannot use (no password on a non-loopback bind, a bad basemap).
    """
    hub = ConsoleHub()
    try:
        server = ConsoleServer(cfg.console, hub, state_dir, config_view(cfg), view, cfg.geo.max_range_m, pose_at)
    except (AuthError, BasemapError) as err:
        raise ConsoleError(str(err)) from None
    return hub, server


class ConsoleError(Exception):
    """The console's config cannot be used; the message names the key."""
