"""API keys and the bind rule: loopback by default; any other address needs a key.

A key is a random bearer token; ``mentor.yaml`` keeps only its sha256 (``serve.api_keys``).
Requests are checked with a constant-time comparison against every configured hash. No FastAPI
here: the CLI checks the bind rule and makes keys without loading the server. The HTTP side of
the check (bearer header, dashboard cookie, one 401) is :mod:`mentor.serve.auth`.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import secrets
from pathlib import Path

from mentor.config import Config
from mentor.errors import ConfigError
from mentor.paths import Workspace

LOOPBACK_NAMES = {"localhost", "ip6-localhost"}
#: the workspace's secret for the dashboard's cookie (random bytes, mode 0600), under ``status/``
SECRET_FILE = "dashboard.secret"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> tuple[str, str]:
    """A fresh key and the hash to put into ``serve.api_keys``."""
    key = "mentor-" + secrets.token_urlsafe(32)
    return key, hash_key(key)


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def needs_key(cfg: Config) -> bool:
    """The dashboard asks for a key only off loopback (the API whenever keys are configured)."""
    return not is_loopback(cfg.serve.host)


def check_bind(cfg: Config) -> None:
    """Refuse a non-loopback bind without an API key (one line, with the fix)."""
    host = cfg.serve.host
    if not is_loopback(host) and not cfg.serve.api_keys:
        raise ConfigError(
            f"serve.host {host!r} is not loopback and serve.api_keys is empty: refusing to serve without a key",
            hint="run `mentor serve --hash-key` and add the hash to serve.api_keys, or bind 127.0.0.1",
        )
    for h in cfg.serve.api_keys:
        if len(h) != 64 or any(c not in "0123456789abcdef" for c in h.lower()):
            raise ConfigError(
                "serve.api_keys: each entry must be a sha256 hex digest (64 characters), not a key",
                hint="run `mentor serve --hash-key` to make a key and its hash",
            )


def key_ok(presented: str | None, hashes: list[str]) -> bool:
    if not presented:
        return False
    digest = hash_key(presented)
    ok = False
    for h in hashes:  # no early exit: the time does not depend on which hash matched
        ok |= hmac.compare_digest(digest, h.lower())
    return ok


def secret_path(ws: Workspace) -> Path:
    return ws.status_file.parent / SECRET_FILE


def workspace_secret(ws: Workspace) -> bytes:
    """The workspace's secret that keys the dashboard's cookie, made on first use (0600).

    Created with ``O_EXCL`` so two servers starting at once agree on one secret; deleting the
    file signs every browser out.
    """
    path = secret_path(ws)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        data = path.read_bytes()
        if len(data) >= 32:
            return data
        raise ConfigError(
            f"{path}: the dashboard secret is shorter than 32 bytes",
            hint="delete the file; the next start makes a new one (browsers sign in again)",
        ) from None
    with os.fdopen(fd, "wb") as f:
        f.write(secrets.token_bytes(32))
    return path.read_bytes()


def cookie_value(secret: bytes, key_hash: str) -> str:
    """What the dashboard's cookie holds for a key: HMAC-SHA256 of the key's sha256 under the
    workspace secret. Never the key itself; removing the key from ``serve.api_keys`` or deleting
    the secret makes the cookie worthless."""
    return hmac.new(secret, b"mentor-dash:" + key_hash.lower().encode(), hashlib.sha256).hexdigest()


def cookie_ok(presented: str | None, secret: bytes, hashes: list[str]) -> bool:
    if not presented:
        return False
    ok = False
    for h in hashes:  # no early exit, as in key_ok
        ok |= hmac.compare_digest(presented.encode(), cookie_value(secret, h).encode())
    return ok
