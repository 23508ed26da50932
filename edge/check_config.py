"""``edge check-config FILE``: exit 0 when the config is valid, 2 with one line per problem when not."""

from __future__ import annotations

import argparse
import sys

from edge.config import ConfigError, load_config


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="edge check-config", description=__doc__)
    parser.add_argument("file", help="TOML config file")
    ns = parser.parse_args(argv)
    try:
        load_config(ns.file)
    except ConfigError as err:
        for line in err.problems:
            print(line, file=sys.stderr)
        return 2
    print(f"{ns.file}: ok")
    return 0
