"""The Config page hides secrets."""

from __future__ import annotations

from edge.config import Config
from edge.console.config_view import HIDDEN, config_view, redact


def test_passwords_in_urls_and_secret_named_keys_are_hidden() -> None:
    cfg = Config.model_validate({"camera": {"url": "rtsp://admin:hunter2@10.0.0.5/stream"}})
    view = config_view(cfg)
    assert view["camera"]["url"] == f"rtsp://admin:{HIDDEN}@10.0.0.5/stream"
    assert "hunter2" not in str(view)
    assert view["mqtt"]["password_credential"] == "mqtt-password"  # a name, not a secret
    assert view["console"]["password_env"] == "EDGE_CONSOLE_PASSWORD"
    assert redact({"a": {"api_token": "abc", "password": "", "n": 3}}) == {
        "a": {"api_token": HIDDEN, "password": "", "n": 3}
    }
