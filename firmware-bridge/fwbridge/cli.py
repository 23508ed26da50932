"""``edge-bridge``: run the MAVLink bridge from a TOML config, or check the config.

Exit codes: 0 stopped by SIGTERM/SIGINT, 2 bad config or unusable signing key (the message says what to fix).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from types import FrameType

from fwbridge.bridge import Bridge
from fwbridge.config import BridgeConfigError, load_bridge_config
from fwbridge.signing import SigningKeyError


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="edge-bridge", description="MAVLink router between a flight controller and endpoints."
    )
    ap.add_argument("-c", "--config", default="/etc/edge/bridge.toml", help="TOML config (default: %(default)s)")
    ap.add_argument("--check", action="store_true", help="validate the config and keys, then exit")
    ap.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = ap.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        cfg = load_bridge_config(args.config)
        bridge = Bridge(cfg)
    except (BridgeConfigError, SigningKeyError, ValueError) as err:
        print(f"edge-bridge: {err}", file=sys.stderr)
        return 2
    if args.check:
        print(f"{args.config}: OK ({len(cfg.endpoint)} endpoints)")
        return 0

    def _stop(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger("fwbridge").info("signal %d: stopping", signum)
        bridge.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    bridge.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
