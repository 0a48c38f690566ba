"""The emulator's phones in a browser: a static page that plays Telegram's app for many users.

The page talks only to this server: the ``/__emu`` control API to act as a user, its event
stream to follow every chat live, and ``/__ui/config`` for the people it may play and the
strings it shows (the composer supplies both: this package has no product knowledge and no
catalogs of its own). Plain HTML, CSS and a standard-library-only script, served from the
package: nothing is fetched from anywhere else.

The server has no authentication (it is a loopback sandbox), so the browser's own protections
are kept in force: requests must name this server as their Host (DNS rebinding), and anything
that changes state must be JSON (a cross-site form or ``no-cors`` fetch cannot send it without
a preflight, which is never granted).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

from aiohttp import web

__all__ = ["UiConfig", "add_webui_routes", "browser_guard"]

UiConfig = Callable[[], Awaitable[dict[str, Any]]]
CONFIG_KEY: web.AppKey[Any] = web.AppKey("ui_config", object)
STATIC = ("index.html", "app.js", "app.css", "favicon.svg")
_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
}
_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
_BOT_PATHS = ("/bot", "/file/bot")


def _static(name: str) -> web.Response:
    data = resources.files(__package__).joinpath("static", name).read_bytes()
    suffix = name[name.rfind(".") :]
    return web.Response(
        body=data, content_type=_TYPES[suffix], charset="utf-8", headers=_PAGE_HEADERS
    )


async def index(request: web.Request) -> web.StreamResponse:
    """GET /: the page."""
    return _static("index.html")


async def static_file(request: web.Request) -> web.StreamResponse:
    """GET /__ui/static/{name}: one of the page's own files (a fixed list, no paths)."""
    name = request.match_info["name"]
    if name not in STATIC:
        raise web.HTTPNotFound()
    return _static(name)


async def config(request: web.Request) -> web.StreamResponse:
    """GET /__ui/config: people, groups, strings and the tour, from the composer."""
    provider: UiConfig = request.app[CONFIG_KEY]
    return web.json_response({"ok": True, "result": await provider()})


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def browser_guard(port: Callable[[], int]) -> Any:
    """Middleware: the Host must be this loopback server; state changes must be JSON."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(_BOT_PATHS):
            return await handler(request)  # the bot's own API: PTB, not a browser
        allowed = {f"127.0.0.1:{port()}", f"localhost:{port()}"}
        if request.host not in allowed:
            return web.json_response({"ok": False, "error": "unknown Host"}, status=403)
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            origin = request.headers.get("Origin")
            if origin is not None and origin.removeprefix("http://") not in allowed:
                return web.json_response({"ok": False, "error": "cross-site"}, status=403)
            if request.content_type != "application/json":
                return web.json_response(
                    {"ok": False, "error": "send JSON (Content-Type: application/json)"},
                    status=415,
                )
        return await handler(request)

    return guard


def add_webui_routes(app: web.Application, provider: UiConfig) -> None:
    """Mount ``/`` and ``/__ui/*`` on the emulator's application."""
    app[CONFIG_KEY] = provider
    app.router.add_get("/", index)
    app.router.add_get("/__ui/static/{name}", static_file)
    app.router.add_get("/__ui/config", config)
