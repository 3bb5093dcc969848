"""The one key check of the server, as a FastAPI dependency (the API's and the dashboard's).

A :class:`KeyCheck` says whether a request may pass: always when no key is needed, else when it
shows a valid key (``Authorization: Bearer <key>``, compared in constant time against the sha256
hashes of ``serve.api_keys``). The dashboard's check also takes its HttpOnly cookie, and its pages
a ``?key=`` (the page then sets the cookie and redirects). A refusal is one 401 in the server's
error shape with ``WWW-Authenticate: Bearer``, whichever app or route refused.

The bearer header is read by FastAPI's :class:`~fastapi.security.HTTPBearer`, so the OpenAPI
schema declares the scheme on every protected route.

Which routes need a key: the API's every route but ``/health`` as soon as keys are configured; the
dashboard's only when bound off loopback (:func:`mentor.serve.security.needs_key`), so a local
browser opens it without one.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from mentor.serve.errors import ApiError
from mentor.serve.security import cookie_ok, cookie_value, hash_key, key_ok

#: The dashboard's cookie (HttpOnly, SameSite=Strict), set from a page's ``?key=``; it holds a
#: keyed hash of the key (:func:`mentor.serve.security.cookie_value`), never the key.
COOKIE = "mentor_dash_session"

BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="apiKey",
    description="A key whose sha256 is in serve.api_keys (`mentor serve --hash-key`).",
)
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]


def unauthorized() -> ApiError:
    return ApiError(
        401,
        "missing or wrong API key (Authorization: Bearer <key>)",
        type="authentication_error",
        code="invalid_api_key",
        headers={"WWW-Authenticate": "Bearer"},
    )


class KeyCheck:
    """Whether a request may pass; :meth:`require` is the dependency of a protected route."""

    def __init__(
        self,
        hashes: list[str],
        *,
        needed: bool,
        cookie_secret: bytes | None = None,
        query: bool = False,
    ) -> None:
        self.hashes = list(hashes)
        self.needed = needed
        self.cookie_secret = cookie_secret  # accept the dashboard's cookie, keyed by this
        self.query = query  # accept ?key= (dashboard pages only)

    def valid(self, key: str | None) -> bool:
        return key_ok(key, self.hashes)

    def cookie_for(self, key: str) -> str:
        """The cookie value that stands for a valid ``key``."""
        assert self.cookie_secret is not None
        return cookie_value(self.cookie_secret, hash_key(key))

    def authorized(self, request: Request, creds: HTTPAuthorizationCredentials | None) -> bool:
        if not self.needed:
            return True
        shown = [creds.credentials if creds is not None else None]
        if self.query:
            shown.append(request.query_params.get("key"))
        if any(self.valid(k) for k in shown):
            return True
        return self.cookie_secret is not None and cookie_ok(
            request.cookies.get(COOKIE), self.cookie_secret, self.hashes
        )

    async def require(self, request: Request, creds: Bearer) -> None:
        """The dependency of a protected route: pass, or the one 401."""
        if not self.authorized(request, creds):
            raise unauthorized()
