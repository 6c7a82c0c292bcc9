"""Who may see the dashboard and press its stop button.

Without a token the server listens on loopback only and every page is read-only. With
FRA_SERVE__TOKEN every request needs it (a bearer header, or the cookie the sign-in form sets),
and the emergency stop needs it typed again in its confirmation form, from a page of this
server: requests another site makes a browser send are refused by their Origin, Referer and
Sec-Fetch-Site headers."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

COOKIE = "fra_session"
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Guard:
    def __init__(self, token: str | None, host: str) -> None:
        self.token = token
        self.loopback = is_loopback(host)

    # -- the token ---------------------------------------------------------------------------

    def token_matches(self, given: str) -> bool:
        return self.token is not None and hmac.compare_digest(
            given.encode("utf-8", "replace"), self.token.encode()
        )

    def _session(self) -> str:
        # The cookie holds a value derived from the token, never the token itself.
        assert self.token is not None
        return hmac.new(self.token.encode(), b"fra serve session", hashlib.sha256).hexdigest()

    @staticmethod
    def bearer(request: Request) -> str | None:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        return value.strip() if scheme.lower() == "bearer" else None

    def signed_in(self, request: Request) -> bool:
        """May this request see the page? Always without a token (loopback only then)."""
        if self.token is None:
            return True
        bearer = self.bearer(request)
        if bearer is not None:
            return self.token_matches(bearer)
        cookie = request.cookies.get(COOKIE, "")
        return hmac.compare_digest(cookie.encode("utf-8", "replace"), self._session().encode())

    def sign_in(self, response: Response) -> None:
        # Strict: a browser sends it with no request another site starts.
        response.set_cookie(COOKIE, self._session(), httponly=True, samesite="strict", path="/")

    # -- where a request comes from ------------------------------------------------------------

    def wrong_host(self, request: Request) -> str | None:
        """On loopback, a request naming another host is a web page's DNS rebinding trick
        (its own name resolved to 127.0.0.1) to read the dashboard: refused."""
        if not self.loopback:
            return None
        host = urlsplit("//" + request.headers.get("host", "")).hostname or ""
        if host.lower() in LOOPBACK_NAMES:
            return None
        return f"refused: Host {host or '(none)'} is not this server's loopback address"

    @staticmethod
    def cross_site(request: Request) -> str | None:
        """Why a state-changing request is refused as cross-site, or None when it came from
        this server's own pages (or from a program such as curl, which sends none of the
        headers and has to give the token)."""
        site = request.headers.get("sec-fetch-site")
        if site is not None and site not in ("same-origin", "none"):
            return f"refused: a cross-site request (Sec-Fetch-Site: {site})"
        own = request.headers.get("host", "")
        origin = request.headers.get("origin")
        if origin is not None:
            if urlsplit(origin).netloc != own:
                return f"refused: a request from another origin ({origin})"
            return None
        referer = request.headers.get("referer")
        if referer is not None and urlsplit(referer).netloc != own:
            return "refused: a request from another site's page"
        return None
