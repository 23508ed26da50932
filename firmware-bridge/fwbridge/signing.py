"""MAVLink 2 message signing: key loading, signing our own frames, verifying what a link sends us.

Signature (MAVLink 2 spec): ``link_id (1 B) | timestamp (6 B, 10 µs units since 2015-01-01 UTC) |
sha256(key + frame up to and including the timestamp)[:6]``, flagged by bit 0 of ``incompat_flags``.
Frames that arrived unsigned are never signed on their way through; only frames the bridge originates are.
"""

from __future__ import annotations

import hashlib
import os
import stat
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path

from fwbridge.frames import MAGIC_V2, SIGNATURE_LEN, SIGNED_FLAG, Frame, x25crc

EPOCH_2015 = 1420070400.0  # 2015-01-01T00:00:00Z in POSIX seconds
REPLAY_WINDOW = 60 * 100_000  # a new stream's first timestamp may be at most 60 s behind the link's (10 µs units)
MAX_AHEAD = 60 * 100_000  # a timestamp more than 60 s ahead of our clock is refused (10 µs units)


class SigningKeyError(ValueError):
    """A signing key that cannot be used (missing, malformed, or readable by others)."""


def parse_key(data: bytes, where: str) -> bytes:
    """32-byte secret from a key file's content: 64 hex characters (whitespace ignored) or 32 raw bytes."""
    text = data.strip()
    if len(text) == 64:
        try:
            return bytes.fromhex(text.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            pass
    if len(data) == 32:
        return data
    raise SigningKeyError(f"{where}: a signing key must be 64 hex characters or 32 raw bytes, got {len(data)} bytes")


def load_key(credential: str = "", key_file: str = "", env: dict[str, str] | None = None) -> bytes:
    """Load a secret from ``$CREDENTIALS_DIRECTORY/<credential>`` (systemd LoadCredential=) or ``key_file``.

    A key file that group or others may read or write is refused, as is one that does not exist.
    """
    e = env if env is not None else os.environ
    if credential:
        cred_dir = e.get("CREDENTIALS_DIRECTORY", "")
        path = Path(cred_dir) / credential
        if cred_dir and path.is_file():
            return parse_key(path.read_bytes(), f"credential {credential!r}")
        if not key_file:
            raise SigningKeyError(f"signing credential {credential!r} not found (is LoadCredential= set in the unit?)")
    if not key_file:
        raise SigningKeyError("signing needs key_credential or key_file")
    p = Path(key_file)
    try:
        st = p.stat()
    except OSError as err:
        raise SigningKeyError(f"{p}: cannot read signing key: {err.strerror}") from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SigningKeyError(
            f"{p}: signing key is accessible by group/others (mode {stat.S_IMODE(st.st_mode):04o}); chmod 600 it"
        )
    return parse_key(p.read_bytes(), str(p))


def now_timestamp(t_utc: float | None = None) -> int:
    """Signing timestamp (10 µs units since 2015-01-01) of POSIX time ``t_utc`` (now when None)."""
    t = time.time() if t_utc is None else t_utc
    return max(0, int((t - EPOCH_2015) * 100_000))


def signature(key: bytes, signed_part: bytes) -> bytes:
    """First 6 bytes of sha256(key + frame bytes up to the end of the timestamp)."""
    return hashlib.sha256(key + signed_part).digest()[:6]


def sign_frame(raw: bytes, crc_extra: int, key: bytes, link_id: int, timestamp: int) -> bytes:
    """Sign an unsigned MAVLink 2 frame ``raw``: set the signed flag, redo the CRC, append the signature."""
    if raw[0] != MAGIC_V2:
        raise ValueError("only MAVLink 2 frames can be signed")
    if raw[2] & SIGNED_FLAG:
        raise ValueError("frame is already signed")
    end = 10 + raw[1]
    body = bytearray(raw[:end])
    body[2] |= SIGNED_FLAG
    crc = x25crc(bytes(body[1:]), crc_extra)
    head = bytes(body) + struct.pack("<HB", crc, link_id) + struct.pack("<Q", timestamp)[:6]
    return head + signature(key, head)


@dataclass
class Verifier:
    """Checks signed frames from one link against a key, with the spec's replay protection.

    Streams are (sysid, compid, link_id); each stream's timestamps must increase. The link's timestamp is our
    clock or the newest accepted frame's, whichever is later, and a new stream may start at most 60 s behind it.
    A timestamp more than ``MAX_AHEAD`` ahead of our clock is refused ("timestamp ahead") and moves nothing, so
    one sender with a fast clock cannot make every other new stream look stale.
    """

    key: bytes
    _last: dict[tuple[int, int, int], int] = field(default_factory=dict)
    _newest: int = field(default_factory=now_timestamp)

    def check(self, frame: Frame, now: int | None = None) -> str | None:
        """None when ``frame`` is correctly signed and fresh; otherwise why not ("unsigned", "bad signature", ...).

        ``now``: our clock as a signing timestamp (the system clock when None).
        """
        if not frame.signed:
            return "unsigned"
        raw = frame.raw
        if signature(self.key, raw[:-6]) != raw[-6:]:
            return "bad signature"
        link_id = raw[-SIGNATURE_LEN]
        ts = int.from_bytes(raw[-12:-6], "little")
        clock = now_timestamp() if now is None else now
        if ts > clock + MAX_AHEAD:
            return "timestamp ahead"
        stream = (frame.sysid, frame.compid, link_id)
        last = self._last.get(stream)
        if last is None:
            if ts + REPLAY_WINDOW < max(self._newest, clock):
                return "stale timestamp"
        elif ts <= last:
            return "replayed timestamp"
        self._last[stream] = ts
        self._newest = max(self._newest, ts)
        return None


@dataclass
class Signer:
    """Signs the frames the bridge originates on one link; timestamps never go backwards."""

    key: bytes
    link_id: int
    _ts: int = 0

    def sign(self, raw: bytes, crc_extra: int) -> bytes:
        self._ts = max(self._ts + 1, now_timestamp())
        return sign_frame(raw, crc_extra, self.key, self.link_id, self._ts)
