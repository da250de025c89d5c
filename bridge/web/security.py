"""Who may talk to the surface: the page's token, its own origin, a host name that is ours, and the
headers that keep the page out of frames and away from any script but its own file."""
from __future__ import annotations

import hmac
import ipaddress
import secrets

from aiohttp import web

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")

# No inline script or style, nothing from elsewhere, no frames: the page is three files of its own.
HEADERS = {
    "Content-Security-Policy": ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "media-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; "
                                "frame-ancestors 'none'"),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def new_token() -> str:
    return secrets.token_urlsafe(24)


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def token_ok(request: web.Request, token: str) -> bool:
    given = request.query.get("token", "")
    return hmac.compare_digest(given.encode(), token.encode())


def host_ok(request: web.Request, bind_host: str) -> bool:
    """On loopback only loopback names reach us: a page whose DNS name was re-pointed at 127.0.0.1 (DNS
    rebinding) arrives with its own name in Host and is refused."""
    if not is_loopback(bind_host):
        return True  # a network address: the token guards it
    try:
        return request.url.host in LOOPBACK_NAMES
    except ValueError:  # a Host header that is no host at all
        return False


def origin_ok(request: web.Request) -> bool:
    """The WebSocket's Origin must be the page's own: the scheme and the host the request came to."""
    origin = request.headers.get("Origin")
    return origin is not None and origin == f"{request.scheme}://{request.host}"


async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every response, errors and the WebSocket's included, carries HEADERS."""
    response.headers.update(HEADERS)
