"""The fault-injection tools themselves: the TCP `FaultProxy` and the `FaultyDriver`."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import anyio
import pytest
from anyio import wait_all_tasks_blocked

from artifacts_async import TransientBackendError
from artifacts_async._drivers._memory import MemoryDriver
from artifacts_async.abc import PartChecksums
from artifacts_async.testing import FaultProxy, Faults, FaultyDriver

pytestmark = pytest.mark.anyio


class Sink:
    """A loopback server that records what it receives and echoes it back."""

    def __init__(self) -> None:
        self.received = bytearray()
        self.server: asyncio.Server | None = None
        self.handlers: set[asyncio.Task[object]] = set()
        self._more = asyncio.Event()

    async def wait_for(self, n: int) -> None:
        """Until at least `n` bytes have arrived."""
        while len(self.received) < n:
            await self._more.wait()
            self._more = asyncio.Event()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        try:
            while data := await reader.read(65536):
                self.received += data
                self._more.set()
                writer.write(data)
                await writer.drain()
            writer.write_eof()
        except OSError:
            pass
        finally:
            await shut(writer)
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            self.handlers.discard(task)

    @property
    def address(self) -> tuple[str, int]:
        assert self.server is not None
        host, port = self.server.sockets[0].getsockname()[:2]
        return host, port


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    """An echo server on 127.0.0.1."""
    s = Sink()
    s.server = await asyncio.start_server(s.handle, "127.0.0.1", 0)
    try:
        yield s
    finally:
        s.server.close()
        for task in s.handlers:
            task.cancel()
        await asyncio.gather(*s.handlers, return_exceptions=True)
        await s.server.wait_closed()


async def shut(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


async def roundtrip(proxy: FaultProxy, payload: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    try:
        writer.write(payload)
        await writer.drain()
        writer.write_eof()
        return await reader.read(-1)
    finally:
        await shut(writer)


async def test_no_faults_passes_bytes_both_ways(sink: Sink) -> None:
    """Without faults the proxy is transparent."""
    payload = bytes(range(256)) * 4096
    async with FaultProxy(sink.address) as proxy:
        assert await roundtrip(proxy, payload) == payload
        assert proxy.endpoint == f"http://127.0.0.1:{proxy.port}"
    assert sink.received == payload


async def test_reset_after_n_request_bytes(sink: Sink) -> None:
    """A reset fires after N request bytes: the server got N, the client sees a reset."""
    faults = Faults(reset=1.0, after_bytes=(1000, 1000), direction="request")
    async with FaultProxy(f"http://127.0.0.1:{sink.address[1]}", faults=faults) as proxy:
        with pytest.raises(ConnectionError):
            await roundtrip(proxy, b"x" * 100_000)
        assert proxy.fired["reset"] == 1
    assert len(sink.received) == 1000


async def test_close_mid_response(sink: Sink) -> None:
    """A close fires after N response bytes: the client reads exactly N, then EOF."""
    faults = Faults(close=1.0, after_bytes=(5000, 5000), direction="response")
    async with FaultProxy(sink.address, faults=faults) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"y" * 20_000)
        got = await reader.read(-1)
        await shut(writer)
        assert got == b"y" * 5000
        assert proxy.fired["close"] == 1


async def test_stall_stops_forwarding_until_released(sink: Sink) -> None:
    """A stall forwards N bytes and then nothing, until `release_stalls`."""
    faults = Faults(stall=1.0, after_bytes=(3000, 3000), direction="request")
    async with FaultProxy(sink.address, faults=faults) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"z" * 50_000)
        writer.write_eof()
        await sink.wait_for(3000)
        await wait_all_tasks_blocked()
        assert len(sink.received) == 3000
        assert proxy.fired["stall"] == 1
        proxy.release_stalls()
        got = await reader.read(-1)
        await shut(writer)
    assert got == b"z" * 50_000
    assert sink.received == b"z" * 50_000


async def test_a_stall_ends_when_the_proxy_closes(sink: Sink) -> None:
    """Closing the proxy drops stalled connections: the client sees the end."""
    faults = Faults(stall=1.0, after_bytes=(0, 0), direction="response")
    proxy = FaultProxy(sink.address, faults=faults)
    await proxy.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    writer.write(b"q" * 10)
    await sink.wait_for(10)
    with anyio.fail_after(5):
        await proxy.close()
        try:
            rest = await reader.read(-1)
        except ConnectionError:
            rest = b""  # a reset ends it as well as a FIN
        assert rest == b""
    await shut(writer)


async def test_max_faults_limits_the_faulty_connections(sink: Sink) -> None:
    """Once max_faults faults fired, new connections pass untouched."""
    faults = Faults(close=1.0, after_bytes=(3, 3), direction="response", max_faults=2)
    async with FaultProxy(sink.address, faults=faults) as proxy:
        assert await roundtrip(proxy, b"ok") == b"ok"  # too short to fire
        for _ in range(2):
            assert await roundtrip(proxy, b"long enough") == b"lon"
        assert await roundtrip(proxy, b"long enough") == b"long enough"
    assert proxy.planned == ["close", "close", "close", None]


async def test_latency_delays_each_chunk(sink: Sink) -> None:
    """Latency is added before each forwarded chunk."""
    async with FaultProxy(sink.address, faults=Faults(latency=0.05)) as proxy:
        start = time.monotonic()
        assert await roundtrip(proxy, b"a") == b"a"
        assert time.monotonic() - start >= 0.1  # one chunk each way


async def test_the_seed_fixes_the_planned_faults(sink: Sink) -> None:
    """The same seed plans the same faults, another seed others; faults can change."""
    faults = Faults(reset=0.3, stall=0.2, close=0.2, after_bytes=(10**9, 10**9))

    async def plans(seed: int) -> list[str | None]:
        async with FaultProxy(sink.address, seed=seed, faults=faults) as proxy:
            for _ in range(20):
                assert await roundtrip(proxy, b"ok") == b"ok"
            proxy.faults = Faults()
            assert await roundtrip(proxy, b"ok") == b"ok"
            assert proxy.planned[-1] is None
            return proxy.planned[:-1]

    first = await plans(1)
    assert first == await plans(1)
    assert first != await plans(2)
    assert {"reset", "stall", "close", None} <= set(first)


def test_faults_are_validated() -> None:
    """Rates outside [0, 1], summing past 1, or a bad range are refused."""
    with pytest.raises(ValueError, match="probability"):
        Faults(reset=1.5)
    with pytest.raises(ValueError, match="exceed 1"):
        Faults(reset=0.6, stall=0.6)
    with pytest.raises(ValueError, match="range"):
        Faults(after_bytes=(5, 1))
    with pytest.raises(ValueError, match="latency"):
        Faults(latency=-1.0)
    with pytest.raises(ValueError, match="host and a port"):
        FaultProxy("http://127.0.0.1")


async def test_faulty_driver_injects_each_kind(memory_store_name: str) -> None:
    """Transient errors happen before the call, lost answers after it, stalls hang."""
    inner = MemoryDriver.from_settings({"name": memory_store_name})
    checks = PartChecksums()
    before = FaultyDriver(inner, transient_rate=1.0)
    with pytest.raises(TransientBackendError, match="before"):
        await before.put("a", b"1", checksums=checks, metadata={})
    assert [o.key async for o in inner.list("")] == []
    lost = FaultyDriver(inner, lost_answer_rate=1.0)
    with pytest.raises(TransientBackendError, match="lost"):
        await lost.put("a", b"1", checksums=checks, metadata={})
    assert (await inner.stat("a")).size == 1
    stalled = FaultyDriver(inner, stall_rate=1.0, operations=frozenset({"stat"}))
    assert (await stalled.put("b", b"22", checksums=checks, metadata={})).size == 2
    with anyio.move_on_after(0.05) as scope:
        await stalled.stat("b")
    assert scope.cancelled_caught
    assert stalled.fired == {"stat:stall": 1}
    broken = FaultyDriver(inner, lost_answer_rate=1.0)
    with pytest.raises(TransientBackendError, match="mid-read"):
        async for _ in broken.read("b"):
            pass
    assert FaultyDriver(inner).describe("k") == inner.describe("k")
    assert FaultyDriver(inner).limits == inner.limits
