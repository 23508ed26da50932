"""The ``edge`` command: routes each subcommand to the module that owns it.

Every handler is ``main(argv: list[str]) -> int`` in its own module, imported only when its command runs,
so ``edge --help`` stays fast and the daemon never loads the simulator or benchmark code.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# command -> (module, help); "model" has subcommands of its own below.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("edge.app", "run the daemon (edge run --config FILE)"),
    "check-config": ("edge.check_config", "validate a config file; exit 2 naming every bad key"),
    "status": ("edge.ops.status", "print the running daemon's health"),
    "calibrate": ("edge.ops.calibrate", "crew calibrations: heading --landmark LAT,LON --pixel X,Y"),
    "console": (
        "edge.console.standalone",
        "serve the field console from the state directory (edge console --config FILE)",
    ),
    "sim": ("sim.cli", "run the simulator (scenarios, MAVLink, NMEA, camera stream)"),
    "listen": ("edge.uplink.listen", "ground-side receiver: subscribe, decode, dedup, print"),
    "model": ("", "model tools: inspect FILE | eval --images DIR --labels DIR|FILE | eval --scenario FILE"),
    "bench": ("bench.run", "benchmarks (edge bench --json)"),
}
MODEL_COMMANDS: dict[str, tuple[str, str]] = {
    "inspect": ("edge.detect.inspect", "print a model's inputs, outputs, layout, labels and preprocessing"),
    "eval": (
        "edge.detect.evaluate",
        "precision, recall and mAP on labelled images (--images, --labels), or against the simulator (--scenario)",
    ),
}
MODEL_COMMANDS["quantize"] = (
    "edge.detect.quantize",
    "a static INT8 model calibrated on your frames, with speed and accuracy",
)
SIM_EVAL = "sim.model_eval"  # `edge model eval --scenario ...`: the simulator renders the images and their truth


def _dispatch(module: str, argv: list[str]) -> int:
    mod = importlib.import_module(module)
    return int(mod.main(argv) or 0)


def _help_text(table: dict[str, tuple[str, str]]) -> str:
    width = max(len(k) for k in table)
    return "\n".join(f"  {k.ljust(width)}  {h}" for k, (_, h) in table.items())


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="edge",
        description="Edge daemon for surveillance drones and MSS vehicles.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="commands:\n" + _help_text(COMMANDS) + "\n\nRun `edge COMMAND --help` for a command's options.",
    )
    parser.add_argument("command", choices=list(COMMANDS), metavar="COMMAND", help="one of the commands below")
    parser.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    if not args:
        parser.print_help()
        return 2
    ns = parser.parse_args(args[:1])
    rest = args[1:]
    if ns.command != "model":
        return _dispatch(COMMANDS[ns.command][0], rest)
    sub = argparse.ArgumentParser(
        prog="edge model",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="commands:\n" + _help_text(MODEL_COMMANDS),
    )
    sub.add_argument("command", choices=list(MODEL_COMMANDS), metavar="COMMAND")
    if not rest:
        sub.print_help()
        return 2
    ms = sub.parse_args(rest[:1])
    module = MODEL_COMMANDS[ms.command][0]
    if ms.command == "eval" and not any(a == "--images" or a.startswith("--images=") for a in rest[1:]):
        module = SIM_EVAL
    return _dispatch(module, rest[1:])


if __name__ == "__main__":
    raise SystemExit(main())
