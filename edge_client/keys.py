"""The AssemblyAI API key: from ASSEMBLYAI_API_KEY or the OS keyring; never printed or logged.

Keyring entry: service `call-analytics-edge-client`, user name `assemblyai-api-key` (Windows
Credential Manager, macOS Keychain, Secret Service on Linux). `python -m edge_client --store-key`
saves it there.
"""

from __future__ import annotations

import logging
import os

KEYRING_SERVICE = "call-analytics-edge-client"
KEYRING_USER = "assemblyai-api-key"
ENV_VAR = "ASSEMBLYAI_API_KEY"


class MissingKeyError(Exception):
    pass


def mask(secret: str | None) -> str:
    if not secret:
        return "<none>"
    return f"****{secret[-4:]}" if len(secret) >= 12 else "****"


def get_api_key(env: dict[str, str] | None = None) -> tuple[str, str]:
    """Returns (key, where it came from)."""
    env = os.environ if env is None else env
    if env.get(ENV_VAR, "").strip():
        return env[ENV_VAR].strip(), f"environment variable {ENV_VAR}"
    try:
        import keyring
        from keyring.errors import KeyringError

        try:
            key = keyring.get_password(KEYRING_SERVICE, KEYRING_USER)
        except KeyringError as exc:
            key, why = None, f" (keyring error: {exc})"
        else:
            why = ""
    except ImportError:
        key, why = None, " (keyring package not installed)"
    if key:
        return key.strip(), f"OS keyring ({KEYRING_SERVICE}/{KEYRING_USER})"
    raise MissingKeyError(f"no AssemblyAI API key: set {ENV_VAR} or run `python -m edge_client --store-key` "
                          f"to save it in the OS keyring (service {KEYRING_SERVICE!r}){why}")


def store_api_key(key: str) -> None:
    import keyring

    key = key.strip()
    if not key:
        raise ValueError("empty key")
    keyring.set_password(KEYRING_SERVICE, KEYRING_USER, key)


class SecretMaskFilter(logging.Filter):
    """Replaces the key in every log record (message and arguments), whatever logged it."""

    def __init__(self, secret: str):
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secret:
            msg = record.getMessage()
            if self.secret in msg:
                record.msg = msg.replace(self.secret, mask(self.secret))
                record.args = None
        return True
