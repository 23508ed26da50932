"""``edge-centre``: the coordination centre's commands (ingest, serve, gaps, export, retention, user)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Callable

from centre.config import CentreConfig, CentreConfigError, load_centre_config

log = logging.getLogger("centre")


def _sigterm(_s: int, _f: object) -> None:
    raise KeyboardInterrupt


def _cmd_ingest(cfg: CentreConfig, ns: argparse.Namespace) -> int:
    from centre.ingest import run_worker

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


COMMANDS: dict[str, tuple[str, Callable[[CentreConfig, argparse.Namespace], int]]] = {
    "ingest": ("one ingest worker: MQTT shared subscription -> database, exactly once", _cmd_ingest),
    "gaps": ("list the sequence numbers that never arrived, per vehicle and boot", _cmd_gaps),
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
        if name == "gaps":
            sp.add_argument("--vehicle", default="", help="only this vehicle")
    return p


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
    return COMMANDS[ns.cmd][1](cfg, ns)


if __name__ == "__main__":
    sys.exit(main())
