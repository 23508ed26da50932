"""MAVLink 2 signing on the daemon's link: where the key comes from, and checking what the autopilot sends.

Signature (MAVLink 2 spec): ``link_id (1 B) | timestamp (6 B, 10 us units since 2015-01-01 UTC) |
sha256(key + frame up to the timestamp)[:6]``, flagged by bit 0 of ``incompat_flags``. We check the signature
before anything else, so a frame without the key never moves a stream's timestamp (pymavlink's own check records
the timestamp first: one forged frame dated in the future would lock the autopilot's stream out).
"""

from __future__ import annotations

import hashlib
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.secrets import read_secret

SIGNING_EPOCH = 1420070400  # MAVLink signing timestamps count 10 us units from 2015-01-01 UTC
CREDENTIAL = "mavlink-signing-key"
ENV_VAR = "EDGE_MAVLINK_KEY"
NEW_STREAM_WINDOW = 60 * 100_000  # a new stream may start at most 60 s behind the newest timestamp we know


def now_timestamp() -> int:
    """The signing timestamp of now (10 us units since 2015-01-01 UTC)."""
    return max(0, int((time.time() - SIGNING_EPOCH) * 100_000))


def signing_key(text: str) -> bytes:
    """The 32-byte signing key from 64 hex digits, or the SHA-256 of a passphrase (MAVProxy's convention)."""
    t = text.strip()
    if len(t) == 64:
        try:
            return bytes.fromhex(t)
        except ValueError:
            pass
    if not t:
        raise ValueError("the MAVLink signing key is empty")
    return hashlib.sha256(t.encode()).digest()


def load_key(key_file: str) -> bytes:
    """The key from the systemd credential ``mavlink-signing-key``, else ``key_file``, else ``$EDGE_MAVLINK_KEY``.

    ValueError naming the source when none is given, the file cannot be read or others may read it.
    """
    secret = read_secret(CREDENTIAL)
    if secret is None and key_file:
        path = Path(key_file)
        try:
            mode = path.stat().st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise ValueError(
                    f"mavlink.signing_key_file: {path} may be read by group/others "
                    f"(mode {stat.S_IMODE(mode):04o}); chmod 600 it"
                )
            secret = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise ValueError(f"mavlink.signing_key_file: cannot read {path}: {err}") from None
    if secret is None:
        secret = read_secret(CREDENTIAL, ENV_VAR)
    if secret is None:
        raise ValueError(
            f"mavlink.signing is on but no key: give the systemd credential {CREDENTIAL}, "
            f"mavlink.signing_key_file or set {ENV_VAR}"
        )
    return signing_key(secret)


@dataclass
class Verifier:
    """Checks the signatures of received messages; ``require`` also refuses unsigned ones.

    Streams are (link_id, system, component); each stream's timestamps must increase, and a new stream may start
    at most 60 s behind the newest timestamp known (our clock or any correctly signed frame).
    """

    key: bytes
    require: bool
    _last: dict[tuple[int, int, int], int] = field(default_factory=dict)
    _newest: int = field(default_factory=now_timestamp)

    def check(self, msg: Any) -> str | None:
        """None when ``msg`` (a decoded pymavlink message) may be used, else why not."""
        buf = bytes(msg.get_msgbuf())
        if not (buf[0] == 0xFD and buf[2] & 0x01):
            return "unsigned" if self.require else None
        if hashlib.sha256(self.key + buf[:-6]).digest()[:6] != buf[-6:]:
            return "bad signature"
        ts = int.from_bytes(buf[-12:-6], "little")
        stream = (buf[-13], msg.get_srcSystem(), msg.get_srcComponent())
        last = self._last.get(stream)
        if last is None:
            if ts + NEW_STREAM_WINDOW < max(self._newest, now_timestamp()):
                return "stale timestamp"
        elif ts <= last:
            return "replayed timestamp"
        self._last[stream] = ts
        self._newest = max(self._newest, ts)
        return None
