"""The abc helpers the cloud drivers share for their SDK clients: `LazyClient` (made once,
on first use, closed with the driver) and `BufferPayload` (the engine's buffer as an
aiohttp request body, without a copy)."""

from __future__ import annotations

import array
import contextlib
import hashlib
import io
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator

import anyio
import pytest
from aiohttp import ClientSession, test_utils, web
from aiohttp.abc import AbstractStreamWriter
from multidict import CIMultiDict

from artifacts_async import BackendError
from artifacts_async.abc import BufferPayload, LazyClient

pytestmark = pytest.mark.anyio

MiB = 1024 * 1024


@contextlib.contextmanager
def _translated() -> Iterator[None]:
    """A driver's error mapping: the "SDK's" ValueError becomes a BackendError."""
    try:
        yield
    except ValueError as exc:
        raise BackendError(f"translated: {exc}") from exc


class _Client:
    """An SDK client stand-in that records when it is closed."""

    def __init__(self, closed: list[_Client], *, fail_close: bool = False) -> None:
        self.closed = closed
        self.fail_close = fail_close

    async def close(self) -> None:
        self.closed.append(self)
        if self.fail_close:
            raise ValueError("close failed")


async def test_lazy_client_is_made_once_for_concurrent_first_calls() -> None:
    """Nothing is made before the first `get`; concurrent first calls share one client."""
    opened: list[_Client] = []
    closed: list[_Client] = []

    async def opener(stack: contextlib.AsyncExitStack) -> _Client:
        await anyio.sleep(0.01)  # the other first calls arrive meanwhile
        client = _Client(closed)
        stack.push_async_callback(client.close)
        opened.append(client)
        return client

    lazy = LazyClient(opener, errors=_translated)
    assert lazy.current is None
    got: list[_Client] = []

    async def use() -> None:
        got.append(await lazy.get())

    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(use)
    assert len(opened) == 1
    assert got == opened * 5
    assert lazy.current is opened[0]
    assert await lazy.get() is opened[0]
    assert closed == []


async def test_lazy_client_closes_once_and_opens_again_after_aclose() -> None:
    """`aclose` closes what the opener registered, once; a later `get` makes a new one."""
    closed: list[_Client] = []

    async def opener(stack: contextlib.AsyncExitStack) -> _Client:
        client = _Client(closed)
        stack.push_async_callback(client.close)
        return client

    lazy = LazyClient(opener)
    await lazy.aclose()  # nothing open: nothing to close
    first = await lazy.get()
    await lazy.aclose()
    await lazy.aclose()
    assert closed == [first]
    assert lazy.current is None
    second = await lazy.get()
    assert second is not first
    await lazy.aclose()
    assert closed == [first, second]


async def test_lazy_client_failed_open_closes_what_it_made_and_is_retried() -> None:
    """A failing opener's error is translated, what it registered is closed, and the next
    `get` tries again."""
    closed: list[_Client] = []
    attempts: list[int] = []

    async def opener(stack: contextlib.AsyncExitStack) -> _Client:
        client = _Client(closed)
        stack.push_async_callback(client.close)
        attempts.append(1)
        if len(attempts) == 1:
            raise ValueError("no such bucket")
        return client

    lazy = LazyClient(opener, errors=_translated)
    with pytest.raises(BackendError, match="translated: no such bucket"):
        await lazy.get()
    assert len(closed) == 1
    assert lazy.current is None
    client = await lazy.get()
    assert len(attempts) == 2
    assert closed == [closed[0]]
    assert lazy.current is client


async def test_lazy_client_cancelled_open_closes_what_it_made() -> None:
    """An opener cancelled halfway (a deadline) leaves nothing open."""
    closed: list[_Client] = []
    registered = anyio.Event()

    async def opener(stack: contextlib.AsyncExitStack) -> _Client:
        client = _Client(closed)
        stack.push_async_callback(client.close)
        registered.set()
        await anyio.sleep_forever()
        raise AssertionError("not reached")

    lazy = LazyClient(opener)
    async with anyio.create_task_group() as tg:
        tg.start_soon(lazy.get)
        await registered.wait()
        tg.cancel_scope.cancel()
    assert len(closed) == 1
    assert lazy.current is None


async def test_lazy_client_close_errors_are_translated() -> None:
    """A failure closing the client comes out through `errors`, and the client is gone."""
    closed: list[_Client] = []

    async def opener(stack: contextlib.AsyncExitStack) -> _Client:
        client = _Client(closed, fail_close=True)
        stack.push_async_callback(client.close)
        return client

    lazy = LazyClient(opener, errors=_translated)
    await lazy.get()
    with pytest.raises(BackendError, match="translated: close failed"):
        await lazy.aclose()
    assert lazy.current is None
    await lazy.aclose()
    assert len(closed) == 1


class _Recorder(AbstractStreamWriter):
    """aiohttp's writer interface, keeping what it is handed (to look at the slices)."""

    def __init__(self) -> None:
        self.writes: list[bytes | bytearray | memoryview] = []

    async def write(self, chunk: bytes | bytearray | memoryview) -> None:
        self.writes.append(chunk)

    async def write_eof(self, chunk: bytes = b"") -> None:
        raise NotImplementedError

    async def drain(self) -> None:
        raise NotImplementedError

    def enable_compression(self, encoding: str = "deflate", strategy: int | None = None) -> None:
        raise NotImplementedError

    def enable_chunking(self) -> None:
        raise NotImplementedError

    async def write_headers(self, status_line: str, headers: CIMultiDict[str]) -> None:
        raise NotImplementedError


async def test_buffer_payload_writes_views_of_the_buffer_in_slices() -> None:
    """The buffer goes out as memoryview slices of itself (no copy), none over `SLICE`,
    between the head and the tail; `content_length` cuts the body short."""
    data = bytearray(os.urandom(2 * BufferPayload.SLICE + 5))
    payload = BufferPayload(data, head=b"HEAD", tail=b"TAIL")
    writer = _Recorder()
    await payload.write(writer)
    assert b"".join(writer.writes) == b"HEAD" + data + b"TAIL"
    middle = writer.writes[1:-1]
    assert [len(w) for w in middle] == [BufferPayload.SLICE, BufferPayload.SLICE, 5]
    assert all(isinstance(w, memoryview) and w.obj is data for w in middle)
    cut = _Recorder()
    await BufferPayload(data, head=b"HEAD", tail=b"TAIL").write_with_length(cut, 10)
    assert b"".join(cut.writes) == b"HEAD" + data[:6]
    assert len(payload) == payload.size == len(data) + 8


def test_buffer_payload_reads_like_a_file() -> None:
    """`read`, `seek`, `tell` and `len` span the head, the buffer and the tail."""
    payload = BufferPayload(memoryview(b"0123456789"), head=b"<", tail=b">")
    assert len(payload) == 12
    assert payload.read(3) == b"<01"
    assert payload.tell() == 3
    assert payload.seek(-2, io.SEEK_END) == 10
    assert payload.read() == b"9>"
    assert payload.read(5) == b""
    assert payload.seek(-1, io.SEEK_CUR) == 11
    assert payload.seek(0) == 0
    assert payload.read(None) == b"<0123456789>"
    assert payload.decode() == "<0123456789>"
    assert repr(payload) == str(payload) == "<BufferPayload 10 bytes>"
    wide = BufferPayload(memoryview(array.array("H", [1, 2])))  # a view of 2-byte items
    assert len(wide) == 4
    assert wide.read() == array.array("H", [1, 2]).tobytes()


@pytest.fixture
async def echo_server() -> AsyncIterator[str]:
    """A local aiohttp server answering each request's Content-Type, length and SHA-256."""

    async def echo(request: web.Request) -> web.Response:
        body = await request.read()
        return web.json_response({"type": request.content_type, "length": len(body),
                                  "sha256": hashlib.sha256(body).hexdigest()})

    app = web.Application(client_max_size=8 * MiB)
    app.router.add_post("/", echo)
    async with test_utils.TestServer(app, host="127.0.0.1") as server:
        yield str(server.make_url("/"))


async def test_buffer_payload_is_sent_by_aiohttp_as_it_is(echo_server: str) -> None:
    """aiohttp sends the payload itself: the server gets head, buffer and tail, with the
    payload's content type, and the same payload can be sent again."""
    data = os.urandom(3 * MiB + 1)
    payload = BufferPayload(data, head=b"--b\r\n", tail=b"\r\n--b--",
                            content_type="multipart/related; boundary=b")
    whole = b"--b\r\n" + data + b"\r\n--b--"
    async with ClientSession() as session:
        for _ in range(2):
            async with session.post(echo_server, data=payload) as response:
                answer = await response.json()
            assert answer == {"type": "multipart/related", "length": len(whole),
                              "sha256": hashlib.sha256(whole).hexdigest()}


def test_the_core_does_not_import_aiohttp_until_buffer_payload_is_used() -> None:
    """`artifacts_async.abc` lists `BufferPayload` but imports aiohttp only when asked."""
    code = (
        "import sys, artifacts_async, artifacts_async.abc as abc\n"
        "assert 'aiohttp' not in sys.modules, 'imported early'\n"
        "assert 'BufferPayload' in dir(abc)\n"
        "assert abc.BufferPayload.__name__ == 'BufferPayload'\n"
        "assert 'aiohttp' in sys.modules\n"
        "try:\n"
        "    abc.NoSuchHelper\n"
        "except AttributeError as exc:\n"
        "    assert 'NoSuchHelper' in str(exc)\n"
        "else:\n"
        "    raise AssertionError('no AttributeError')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr
