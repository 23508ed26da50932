"""``edge console --config FILE``: the field console without the daemon's process.

Serves the pages from the state directory: the health snapshot the daemon writes (``health.json``, re-read every
``ops.status_interval_s``), the acknowledgements, and the config. Live frames and new alerts come only from a
console run inside ``edge run`` (``[console] enabled = true``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import signal
import sys
import threading

from edge.config import ConfigError, load_config
from edge.ops.logs import setup_logging

log = logging.getLogger("edge.console")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="edge console", description=__doc__)
    parser.add_argument("--config", "-c", default="/etc/edge/edge.toml", help="TOML config (default %(default)s)")
    ns = parser.parse_args(argv)
    try:
        cfg = load_config(ns.config)
    except ConfigError as err:
        print("\n".join(err.problems), file=sys.stderr)
        return 2
    setup_logging(cfg.log.level)
    from edge.app import HEALTH_FILE, state_dir
    from edge.console.server import ConsoleError, build_console

    sdir = state_dir(cfg)
    try:
        hub, server = build_console(cfg, sdir, None)
    except ConsoleError as err:
        log.error("%s", err)
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server.start()
    if server.health()["state"] != "ok":
        return 2
    print(f"console: {server.url}", flush=True)
    last = None
    while not stop.is_set():
        try:
            text = (sdir / HEALTH_FILE).read_text()
        except OSError:
            text = None
        if text and text != last:
            last = text
            with contextlib.suppress(ValueError):  # a half-written file: the next read gets it
                hub.report_health(json.loads(text))
        stop.wait(cfg.ops.status_interval_s)
    server.stop()
    return 0
