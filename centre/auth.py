"""Users, roles and sessions of the centre. Passwords are stored as scrypt hashes (hashlib, n=2^14, r=8, p=1).

Roles: ``operator`` sees the map and acknowledges alerts; ``analyst`` sees and exports; ``admin`` may do all.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict

from centre.store import Store

PERMISSIONS = {
    "view": {"operator", "analyst", "admin"},
    "ack": {"operator", "admin"},
    "ask": {"operator", "admin"},  # ask a vehicle for imagery
    "export": {"analyst", "admin"},
}
MAX_SESSIONS = 256


def hash_password(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=2**14, r=8, p=1, dklen=32)


def add_user(store: Store, name: str, role: str, password: str) -> None:
    """Create or replace a user (ValueError for an unknown role or an empty password)."""
    if not password:
        raise ValueError("the password must not be empty")
    salt = secrets.token_bytes(16)
    store.put_user(name, role, salt, hash_password(password, salt))


def check_login(store: Store, name: str, password: str) -> str | None:
    """The user's role if the password is right, else None (same work done for unknown users)."""
    found = store.get_user(name)
    role, salt, digest = found if found else ("", b"\0" * 16, b"")
    ok = hmac.compare_digest(hash_password(password, salt), digest)
    return role if ok and found else None


class Sessions:
    """Random tokens to (user, role, expiry); the oldest forgotten past MAX_SESSIONS."""

    def __init__(self, lifetime_s: float) -> None:
        self.lifetime_s = lifetime_s
        self._s: OrderedDict[str, tuple[str, str, float]] = OrderedDict()

    def open(self, user: str, role: str) -> str:
        token = secrets.token_urlsafe(32)
        self._s[token] = (user, role, time.monotonic() + self.lifetime_s)
        while len(self._s) > MAX_SESSIONS:
            self._s.popitem(last=False)
        return token

    def get(self, token: str) -> tuple[str, str] | None:
        found = self._s.get(token)
        if found is None or found[2] < time.monotonic():
            return None
        return found[0], found[1]

    def close(self, token: str) -> None:
        self._s.pop(token, None)
