"""``edge-centre``: the coordination centre's commands (ingest, serve, gaps, export, retention, user, thumbnail)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from collections.abc import Callable

from centre.config import CentreConfig, CentreConfigError, load_centre_config
from centre.store import StoreError

log = logging.getLogger("centre")


def _sigterm(_s: int, _f: object) -> None:
    raise KeyboardInterrupt


def _cmd_ingest(cfg: CentreConfig, ns: argparse.Namespace) -> int:
    from centre.ingest import run_worker

    if ns.client_id:
        cfg = cfg.model_copy(update={"mqtt": cfg.mqtt.model_copy(update={"client_id": ns.client_id})})
    return run_worker(cfg, ns.seconds)


def _cmd_gaps(cfg: CentreConfig, ns: argparse.Namespace) -> int:
    from centre.store import open_store

    store = open_store(cfg.store.url)
    gaps = store.gaps(ns.vehicle or None)
    for g in gaps:
        n = g.last - g.first + 1
        print(f"{g.vehicle} boot {g.boot:08x}: seq {g.first}..{g.last} missing ({n})")
    print(f"{len(gaps)} gaps, {sum(g.last - g.first + 1 for g in gaps)} records missing", file=sys.stderr)
    store.close()
    return 0


def _cmd_serve(cfg: CentreConfig, ns: argparse.Namespace) -> int:
    import threading

    from aiohttp import web

    from centre.api import CentreApi
    from centre.cot import CotSender
    from centre.feed import Feed
    from centre.store import open_store

    cot = CotSender(cfg.tak.url) if cfg.tak.url else None
    feed = Feed(cfg, open_store(cfg.store.url), cot)
    stop = threading.Event()
    fusion = threading.Thread(target=feed.run, args=(stop,), name="fusion", daemon=True)
    fusion.start()
    from centre.api import load_basemap
    from edge.console.basemap import BasemapError

    try:
        basemap = load_basemap(cfg.api.basemap, cfg.api.basemap_bounds)
    except BasemapError as err:
        print(f"{ns.config}: {err}", file=sys.stderr)
        return 2
    from functools import partial

    from centre.ask import ask_thumbnail

    ask = partial(ask_thumbnail, cfg) if cfg.mqtt.url else None
    api = CentreApi(open_store(cfg.store.url), cfg.api.session_hours, basemap, ask, cfg.api.thumbnail_max_bytes)
    try:
        web.run_app(api.app(), host=cfg.api.bind, port=cfg.api.port, print=None, handle_signals=False)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        fusion.join(5)
    return 0


def _cmd_user(cfg: CentreConfig, ns: argparse.Namespace) -> int:
    import os

    from centre.auth import add_user
    from centre.store import open_store

    password = os.environ.get("EDGE_CENTRE_PASSWORD", "")
    if not password:
        print("set the new user's password in $EDGE_CENTRE_PASSWORD", file=sys.stderr)
        return 2
    store = open_store(cfg.store.url)
    try:
        add_user(store, ns.name, ns.role, password)
    except ValueError as err:
        print(f"edge-centre user: {err}", file=sys.stderr)
        return 2
    store.audit(time.time(), os.environ.get("USER", "admin"), "user", {"name": ns.name, "role": ns.role})
    print(f"user {ns.name} ({ns.role}) saved")
    return 0


def _cmd_retention(cfg: CentreConfig, ns: argparse.Namespace) -> int:
    from centre.retention import apply_retention
    from centre.store import open_store

    store = open_store(cfg.store.url)
    for what, n in apply_retention(store, cfg.retention, time.time()).items():
        print(f"{what}: {n} deleted")
    return 0


def _cmd_thumbnail(cfg: CentreConfig, ns: argparse.Namespace) -> int:
    import os

    from centre.ask import ask_thumbnail, checked_request
    from centre.store import open_store
    from edge.thumbs.wire import BadRequest

    asked = {"camera": ns.camera, "track": ns.track, "frame": ns.frame, "max_bytes": ns.max_bytes,
             "format": ns.format, **({"boot": ns.boot} if ns.boot is not None else {})}  # fmt: skip
    try:
        request = checked_request(asked, ns.vehicle)
    except BadRequest as err:
        print(f"edge-centre thumbnail: {err}", file=sys.stderr)
        return 2
    ok, text = ask_thumbnail(cfg, request, ns.vehicle)
    if not ok:
        print(f"edge-centre thumbnail: {text}", file=sys.stderr)
        return 1
    store = open_store(cfg.store.url)
    who = os.environ.get("USER") or cfg.mqtt.username or "centre"
    store.audit(time.time(), who, "ask thumbnail", {"vehicle": ns.vehicle, **request})
    store.close()
    print(f"asked {ns.vehicle} for track {ns.track} (request {text}); the answer arrives through ingest")
    return 0


COMMANDS: dict[str, tuple[str, Callable[[CentreConfig, argparse.Namespace], int]]] = {
    "ingest": ("one ingest worker: MQTT shared subscription -> database, exactly once", _cmd_ingest),
    "gaps": ("list the sequence numbers that never arrived, per vehicle and boot", _cmd_gaps),
    "serve": ("the map, the GeoJSON API and exports; fuses sightings and sends CoT", _cmd_serve),
    "user": ("add or replace a user (password from $EDGE_CENTRE_PASSWORD)", _cmd_user),
    "retention": ("delete what is older than its retention period (run daily, e.g. a systemd timer)", _cmd_retention),
    "thumbnail": ("ask a vehicle for the crop of a track (audited; the image arrives through ingest)", _cmd_thumbnail),
}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edge-centre", description=__doc__)
    p.add_argument("--config", default="/etc/edge-centre/centre.toml", help="TOML config (default %(default)s)")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="cmd", required=True)
    for name, (help_text, _fn) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        if name == "ingest":
            sp.add_argument("--seconds", type=float, default=0.0, help="stop after S s (0: run until stopped)")
            sp.add_argument(
                "--client-id", default="", help="MQTT client id instead of mqtt.client_id (one per worker, stable)"
            )
        if name == "gaps":
            sp.add_argument("--vehicle", default="", help="only this vehicle")
        if name == "thumbnail":
            sp.add_argument("vehicle", help="vehicle id")
            sp.add_argument("track", type=int, help="track id (as in its detections)")
            sp.add_argument(
                "--boot", type=_hex, default=None, help="the daemon run (hex, as in gaps); default: its current one"
            )
            sp.add_argument("--camera", default="cam0")
            sp.add_argument("--frame", choices=["best", "latest"], default="best")
            sp.add_argument("--max-bytes", type=int, default=4000, help="the image's bytes at most")
            sp.add_argument("--format", choices=["jpeg", "webp"], default="jpeg")
        if name == "user":
            sp.add_argument("name", help="login name")
            sp.add_argument("role", choices=["operator", "analyst", "admin"])
    return p


def _hex(text: str) -> int:
    try:
        return int(text, 16)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a hex number: {text!r}") from None


def main(argv: list[str] | None = None) -> int:
    ns = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=logging.DEBUG if ns.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        cfg = load_centre_config(ns.config)
    except CentreConfigError as err:
        print(err, file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _sigterm)
    try:
        return COMMANDS[ns.cmd][1](cfg, ns)
    except StoreError as err:
        print(f"edge-centre {ns.cmd}: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # SIGTERM or Ctrl-C while waiting (for the database, the broker)
        return 0


if __name__ == "__main__":
    sys.exit(main())
