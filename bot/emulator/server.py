"""aiohttp front end for the bot-facing API: ``/bot{token}/{method}`` and file downloads."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from .methods import BotApi, UploadedFile
from .state import EmulatorState

__all__ = ["MAX_REQUEST_BYTES", "add_bot_routes"]

# Telegram accepts 50 MB uploads from bots; leave headroom for multipart framing.
MAX_REQUEST_BYTES = 60 * 1024 * 1024

API_KEY: web.AppKey[BotApi] = web.AppKey("emulator_api", BotApi)
STATE_KEY: web.AppKey[EmulatorState] = web.AppKey("emulator_state", EmulatorState)


def _envelope(status: int, description: str) -> web.Response:
    body = {"ok": False, "error_code": status, "description": description}
    return web.json_response(body, status=status)


async def _read_params(
    request: web.Request,
) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
    """Decode query string + JSON, urlencoded or multipart body into params and file parts."""
    params: dict[str, Any] = dict(request.query)
    files: dict[str, UploadedFile] = {}
    if request.method not in ("POST", "PUT") or not request.body_exists:
        return params, files
    content_type = request.content_type
    if content_type == "application/json":
        raw = await request.read()
        if raw.strip():
            data = json.loads(raw)
            if not isinstance(data, dict):
                raise ValueError("JSON body must be an object")
            params.update(data)
    elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        for name, value in form.items():
            if isinstance(value, web.FileField):
                files[name] = UploadedFile(value.filename, value.file.read(), value.content_type)
            else:
                params[name] = value
    return params, files


async def handle_bot_call(request: web.Request) -> web.Response:
    """One Bot API call."""
    api = request.app[API_KEY]
    try:
        params, files = await _read_params(request)
    except web.HTTPRequestEntityTooLarge:
        return _envelope(413, "Request Entity Too Large")
    except (ValueError, UnicodeDecodeError):
        return _envelope(400, "Bad Request: can't parse JSON encoded request")
    status, body = await api.dispatch(
        request.match_info["token"], request.match_info["method"], params, files
    )
    return web.json_response(body, status=status, dumps=_dumps)


async def handle_file_download(request: web.Request) -> web.StreamResponse:
    """GET /file/bot{token}/{file_path}: the bytes behind a getFile path."""
    api = request.app[API_KEY]
    if request.match_info["token"] != api.token:
        return _envelope(401, "Unauthorized")
    record = request.app[STATE_KEY].files_by_path.get(request.match_info["path"])
    if record is None:
        return _envelope(404, "Not Found: file not found")
    return web.Response(
        body=record.data, content_type=record.mime_type or "application/octet-stream"
    )


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def add_bot_routes(app: web.Application, api: BotApi, state: EmulatorState) -> None:
    """Mount the bot-facing routes on ``app``."""
    app[API_KEY] = api
    app[STATE_KEY] = state
    app.router.add_route("*", "/bot{token}/{method}", handle_bot_call)
    app.router.add_get("/file/bot{token}/{path:.+}", handle_file_download)
