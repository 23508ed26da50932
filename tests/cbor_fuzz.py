"""Mutations of valid CBOR messages for the fuzz tests: flipped bytes, a cut, or one value set to an odd one."""

from __future__ import annotations

import random
from collections.abc import Sequence

import cbor2


def mutate(rnd: random.Random, payload: bytes, odd: Sequence[object], keys: Sequence[object] = ()) -> bytes:
    """``payload`` with 1-4 flipped bytes (30 %), cut short (10 %), or one field of a map (its own or one of
    ``keys``) or one element of an array (or of an array inside it) set to one of ``odd``."""
    r = rnd.random()
    if r < 0.3:
        b = bytearray(payload)
        for _ in range(rnd.randint(1, 4)):
            b[rnd.randrange(len(b))] = rnd.randrange(256)
        return bytes(b)
    if r < 0.4:
        return payload[: rnd.randrange(len(payload) + 1)]
    msg = cbor2.loads(payload)
    if isinstance(msg, dict):
        msg[rnd.choice([*msg, *keys])] = rnd.choice(odd)
    else:
        i = rnd.randrange(len(msg))
        if isinstance(msg[i], list) and msg[i] and rnd.random() < 0.5:  # inside a detection or the pose
            msg[i][rnd.randrange(len(msg[i]))] = rnd.choice(odd)
        else:
            msg[i] = rnd.choice(odd)
    return cbor2.dumps(msg)
