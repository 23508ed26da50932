"""Who may see the console: nobody needs to log in on loopback; anywhere else a password opens a session.

The password comes from a systemd credential or an environment variable (``edge.secrets``), never from the TOML.
It is compared in constant time (both sides hashed first, so not even its length leaks). A login gives a random
session token in an HttpOnly, SameSite=Strict cookie; ``Authorization: Bearer <password>`` also works (a
Prometheus scraper). Sessions are kept in memory, at most ``MAX_SESSIONS``, the oldest forgotten first.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable

from edge.console.settings import ConsoleSettings
from edge.secrets import read_secret

COOKIE = "edge_console"
MAX_SESSIONS = 64


class AuthError(Exception):
    """Login is required but no password is set; the message names what to set."""


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


class Auth:
    """Password check and sessions. ``required`` is False on a loopback bind."""

    def __init__(self, settings: ConsoleSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self.required = settings.needs_login
        self.lifetime_s = settings.session_hours * 3600.0
        self.clock = clock
        password = read_secret(settings.password_credential, settings.password_env)
        if self.required and not password:
            raise AuthError(
                f"console.bind = {settings.bind!r} is not loopback, so the console needs a password: put it in the "
                f"systemd credential {settings.password_credential!r} (console.password_credential) or the "
                f"environment variable {settings.password_env} (console.password_env)"
            )
        self._hash = _digest(password) if password else None
        self._sessions: OrderedDict[str, tuple[str, float]] = OrderedDict()  # token -> (user, expiry)

    def check_password(self, password: str) -> bool:
        return self._hash is not None and hmac.compare_digest(_digest(password), self._hash)

    def login(self, user: str, password: str) -> str | None:
        """A new session token for the right password, else None."""
        if not self.check_password(password):
            return None
        token = secrets.token_urlsafe(32)
        self._sessions[token] = (user.strip()[:64] or "crew", self.clock() + self.lifetime_s)
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)
        return token

    def logout(self, token: str) -> None:
        self._sessions.pop(token, None)

    def user(self, token: str | None, bearer: str | None = None) -> str | None:
        """Who the request is from: the session's user, "token" for a right bearer password, "local" when no login
        is required; None when it must log in."""
        if token:
            found = self._sessions.get(token)
            if found is not None and found[1] > self.clock():
                return found[0]
            self._sessions.pop(token, None)
        if bearer and self.check_password(bearer):
            return "token"
        return None if self.required else "local"
