"""PTB's HTTP transport on aiohttp: httpx's pool collapses under concurrency (performance.md §1.2).

Two instances per bot: one for ordinary calls and one for ``getUpdates``. PTB adds the long-poll
``timeout`` to the read timeout of a ``getUpdates`` call itself, so the poll instance only needs
its own small pool, and a long poll never occupies a connection ordinary calls are waiting for.
"""

from __future__ import annotations

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData


class AiohttpRequest(BaseRequest):
    """A ``telegram.request.BaseRequest`` with one aiohttp ``ClientSession`` per instance."""

    __slots__ = (
        "_connect_timeout",
        "_media_write_timeout",
        "_pool_size",
        "_pool_timeout",
        "_read_timeout",
        "_session",
        "_write_timeout",
    )

    def __init__(
        self,
        connection_pool_size: int = 256,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        if connection_pool_size < 1:
            raise ValueError("connection_pool_size must be at least 1")
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def for_get_updates(cls, *, read_timeout: float | None = 5.0) -> AiohttpRequest:
        """The instance for ``getUpdates``: one long poll at a time needs one connection."""
        return cls(connection_pool_size=1, read_timeout=read_timeout, pool_timeout=None)

    @property
    def read_timeout(self) -> float | None:
        """The default read timeout in seconds (PTB adds the poll timeout to it itself)."""
        return self._read_timeout

    @property
    def pool_size(self) -> int:
        """The most connections this instance opens at once."""
        return self._pool_size

    async def initialize(self) -> None:
        """Open the session (idempotent; a shut-down instance can be initialised again)."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._pool_size, limit_per_host=0)
            # Timeouts are set per request in do_request; none here, so nothing leaks through.
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=None),
                headers={"User-Agent": self.USER_AGENT},
                raise_for_status=False,
            )

    async def shutdown(self) -> None:
        """Close the session and its connections (idempotent)."""
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Make one HTTP request; return the status and the raw body (BaseRequest parses it)."""
        session = self._session
        if session is None or session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")

        has_files = request_data is not None and request_data.contains_files
        # DEFAULT_NONE means "not passed": use this instance's defaults, as HTTPXRequest does.
        read = self._read_timeout if isinstance(read_timeout, DefaultValue) else read_timeout
        connect = (
            self._connect_timeout if isinstance(connect_timeout, DefaultValue) else connect_timeout
        )
        pool = self._pool_timeout if isinstance(pool_timeout, DefaultValue) else pool_timeout
        if isinstance(write_timeout, DefaultValue):
            write = self._media_write_timeout if has_files else self._write_timeout
        else:
            write = write_timeout
        timeout = _client_timeout(read=read, write=write, connect=connect, pool=pool)

        body: aiohttp.FormData | bytes | None = None
        headers: dict[str, str] = {}
        if request_data is not None:
            if has_files:
                body = _form_data(request_data)
            else:
                body = request_data.json_payload
                headers["Content-Type"] = "application/json"

        try:
            async with session.request(
                method, url, data=body, headers=headers, timeout=timeout
            ) as response:
                payload = await response.read()
                return response.status, payload
        except aiohttp.ConnectionTimeoutError as err:
            raise TimedOut(
                "Pool or connect timeout: no connection to the Bot API became available in time"
            ) from err
        except TimeoutError as err:  # aiohttp's timeouts all subclass the builtin one
            raise TimedOut from err
        except aiohttp.ClientError as err:
            raise NetworkError(f"aiohttp.{err.__class__.__name__}: {err}") from err


def _client_timeout(
    *, read: float | None, write: float | None, connect: float | None, pool: float | None
) -> aiohttp.ClientTimeout:
    """PTB's four timeouts in aiohttp's terms.

    aiohttp's ``connect`` covers waiting for a pooled connection *and* opening one, so it gets
    pool + connect; ``sock_connect`` is the connect alone. aiohttp has no write timeout, so the
    write budget bounds the whole request instead (``total``), on top of the other three.
    """
    both = None if connect is None or pool is None else connect + pool
    parts = (read, write, connect, pool)
    total = None if any(p is None for p in parts) else sum(p for p in parts if p is not None)
    return aiohttp.ClientTimeout(total=total, connect=both, sock_connect=connect, sock_read=read)


def _form_data(request_data: RequestData) -> aiohttp.FormData:
    """multipart/form-data: every parameter JSON-encoded as a field, every file as a part."""
    # Raw UTF-8 file names, as httpx sends them: quoting would turn 通知.pdf into %E9%80%9A...
    form = aiohttp.FormData(quote_fields=False)
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, (filename, content, mimetype) in request_data.multipart_data.items():
        form.add_field(name, content, filename=filename, content_type=mimetype)
    return form
