"""Secrets (passwords, signing keys) from systemd credentials or the environment, never from the TOML."""

from __future__ import annotations

import os
from pathlib import Path


def read_secret(credential: str, env_var: str | None = None) -> str | None:
    """Return the secret named ``credential``.

    Looks in ``$CREDENTIALS_DIRECTORY/<credential>`` (systemd ``LoadCredential=``) first, then in the
    environment variable ``env_var``. Trailing newlines are stripped. None when neither is set.
    """
    cred_dir = os.environ.get("CREDENTIALS_DIRECTORY")
    if cred_dir:
        path = Path(cred_dir) / credential
        if path.is_file():
            return path.read_text(encoding="utf-8").rstrip("\r\n")
    if env_var and env_var in os.environ:
        return os.environ[env_var]
    return None
