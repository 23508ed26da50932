"""The config in force as the console's Config page shows it: every key, with secrets redacted.

Secrets never live in the TOML (passwords come from systemd credentials), but a camera URL may carry one
(``rtsp://user:pass@host``), and a key whose name says password, secret or token is hidden whatever it holds.
"""

from __future__ import annotations

import re
from typing import Any

from edge.config import Config

SECRET_KEY = re.compile(r"(password|secret|token|passphrase)(?!_credential|_env)", re.IGNORECASE)
URL_PASSWORD = re.compile(r"(://[^/:@\s]+):[^/@\s]*@")
HIDDEN = "***"


def redact(value: Any, key: str = "") -> Any:
    """``value`` (JSON-like) with secret-named keys hidden and passwords cut out of URLs."""
    if isinstance(value, dict):
        return {k: redact(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, key) for v in value]
    if isinstance(value, str):
        if value and SECRET_KEY.search(key):
            return HIDDEN
        return URL_PASSWORD.sub(rf"\1:{HIDDEN}@", value)
    return value


def config_view(cfg: Config) -> dict[str, Any]:
    return dict(redact(cfg.model_dump(mode="json")))
