"""Who may see the console: the bind rule, the password's source, sessions."""

from __future__ import annotations

import pytest

from edge.console.auth import MAX_SESSIONS, Auth, AuthError
from edge.console.settings import ConsoleSettings


@pytest.mark.parametrize("bind", ["127.0.0.1", "::1", "localhost"])
def test_loopback_needs_no_login(bind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EDGE_CONSOLE_PASSWORD", raising=False)
    auth = Auth(ConsoleSettings(bind=bind))
    assert not auth.required and auth.user(None) == "local"


@pytest.mark.parametrize("bind", ["0.0.0.0", "192.168.1.20", "127.0.0.2", "::"])
def test_any_other_bind_needs_a_password_from_a_credential_or_the_environment(
    bind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EDGE_CONSOLE_PASSWORD", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    with pytest.raises(AuthError, match=r"console\.password_credential.*EDGE_CONSOLE_PASSWORD"):
        Auth(ConsoleSettings(bind=bind))
    monkeypatch.setenv("EDGE_CONSOLE_PASSWORD", "s3cret")
    auth = Auth(ConsoleSettings(bind=bind))
    assert auth.required and auth.user(None) is None


def test_the_systemd_credential_wins(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "console-password").write_text("from-credential\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    monkeypatch.setenv("EDGE_CONSOLE_PASSWORD", "from-env")
    auth = Auth(ConsoleSettings(bind="0.0.0.0"))
    assert auth.check_password("from-credential") and not auth.check_password("from-env")


def test_login_sessions_bearer_and_expiry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGE_CONSOLE_PASSWORD", "s3cret")
    now = [1000.0]
    auth = Auth(ConsoleSettings(bind="0.0.0.0", session_hours=1.0), clock=lambda: now[0])
    assert auth.login("crew", "wrong") is None
    assert auth.login("crew", "s3cret!") is None and auth.login("crew", "") is None
    token = auth.login("Sgt A", "s3cret")
    assert token and auth.user(token) == "Sgt A"
    assert auth.user("forged-token") is None
    assert auth.user(None, bearer="s3cret") == "token" and auth.user(None, bearer="nope") is None
    now[0] += 3601.0
    assert auth.user(token) is None
    tokens = [auth.login(f"u{i}", "s3cret") for i in range(MAX_SESSIONS + 5)]
    assert auth.user(tokens[0]) is None and auth.user(tokens[-1]) == f"u{MAX_SESSIONS + 4}"
    auth.logout(str(tokens[-1]))
    assert auth.user(tokens[-1]) is None
