"""A TCP fault proxy for driver tests: resets, stalls, early closes and latency.

The proxy sits between a driver and its test server on 127.0.0.1. For each connection it
accepts, a seeded random generator picks at most one fault, which fires after a random
number of bytes in one direction:

- `reset`: both sides are closed with a TCP RST (SO_LINGER 0), as a crashed peer does;
- `stall`: the proxy stops reading and forwarding in that direction; the sender's socket
  buffers fill and its writes block, as on a dead network path (nothing ends the stall but
  the client giving up, `release_stalls()` or the proxy closing);
- `close`: both sides are closed cleanly (FIN) mid-request or mid-response.

`latency` adds a delay before each forwarded chunk. The faults can be changed at any time
(`proxy.faults = Faults(...)`); they apply to connections accepted afterwards.

```python
async with FaultProxy(server_endpoint, seed=3, faults=Faults(reset=0.2)) as proxy:
    driver = make_driver(endpoint=proxy.endpoint)
    ...
```

No pytest here: benchmarks and any driver's tests can use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
from collections import Counter
from types import TracebackType
from typing import Literal, final
from urllib.parse import urlsplit

import attrs

__all__ = ["FaultProxy", "Faults"]

FaultKind = Literal["reset", "stall", "close"]
Direction = Literal["request", "response"]

_CHUNK = 64 * 1024


def _probability(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{attribute.name} must be a probability in [0, 1], got {value!r}")


@final
@attrs.frozen(kw_only=True)
class Faults:
    """What a `FaultProxy` does to each new connection.

    `reset`, `stall` and `close` are the probabilities (summing to at most 1) that a
    connection gets that fault; it fires once `after_bytes` (a random count in the
    inclusive range) have passed in `direction` ("request": client to server,
    "response": server to client, None: either, chosen at random). `latency` is added,
    in seconds, before every forwarded chunk of every connection. Once `max_faults` faults
    have fired, connections accepted afterwards pass untouched.
    """

    reset: float = attrs.field(default=0.0, validator=_probability)
    stall: float = attrs.field(default=0.0, validator=_probability)
    close: float = attrs.field(default=0.0, validator=_probability)
    after_bytes: tuple[int, int] = (0, 256 * 1024)
    direction: Direction | None = None
    latency: float = 0.0
    max_faults: int | None = None

    def __attrs_post_init__(self) -> None:
        if self.reset + self.stall + self.close > 1.0:
            raise ValueError("reset + stall + close must not exceed 1")
        low, high = self.after_bytes
        if not 0 <= low <= high:
            raise ValueError(f"after_bytes must be a range (low, high), got {self.after_bytes}")
        if self.latency < 0:
            raise ValueError("latency must not be negative")


@attrs.frozen
class _Plan:
    kind: FaultKind | None
    direction: Direction
    after: int


def _draw(rng: random.Random, faults: Faults) -> _Plan:
    roll = rng.random()
    kind: FaultKind | None = None
    for name, p in (("reset", faults.reset), ("stall", faults.stall), ("close", faults.close)):
        if roll < p:
            kind = name  # type: ignore[assignment]
            break
        roll -= p
    choice: Direction = rng.choice(("request", "response"))
    direction = faults.direction or choice
    return _Plan(kind=kind, direction=direction, after=rng.randint(*faults.after_bytes))


def _rst(writer: asyncio.StreamWriter) -> None:
    """Close `writer`'s connection with a TCP RST instead of a FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class _Connection:
    """One proxied connection: two pumps and the fault planned for it."""

    def __init__(
        self,
        proxy: FaultProxy,
        plan: _Plan,
        client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        server: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        latency: float,
    ) -> None:
        self.proxy = proxy
        self.plan = plan
        self.client = client
        self.server = server
        self.latency = latency
        self.done = False

    def close(self, *, reset: bool = False) -> None:
        if self.done:
            return
        self.done = True
        for _, writer in (self.client, self.server):
            if reset:
                _rst(writer)
            else:
                writer.close()

    async def closed(self) -> None:
        """Until both sides' transports are closed."""
        for _, writer in (self.client, self.server):
            with contextlib.suppress(OSError, asyncio.CancelledError):
                await writer.wait_closed()

    async def pump(self, direction: Direction) -> None:
        reader, _ = self.client if direction == "request" else self.server
        _, writer = self.server if direction == "request" else self.client
        armed = self.plan.kind is not None and self.plan.direction == direction
        budget = self.plan.after
        try:
            while not self.done:
                limit = min(_CHUNK, budget) if armed and budget > 0 else _CHUNK
                if armed and budget == 0:
                    await self._fire(direction)
                    return
                data = await reader.read(limit)
                if not data:
                    with contextlib.suppress(OSError, RuntimeError):
                        writer.write_eof()
                    return
                if self.latency:
                    await asyncio.sleep(self.latency)
                writer.write(data)
                await writer.drain()
                if armed:
                    budget -= len(data)
        except (OSError, asyncio.IncompleteReadError):
            self.close()

    async def _fire(self, direction: Direction) -> None:
        kind = self.plan.kind
        assert kind is not None
        self.proxy.fired[kind] += 1
        if kind == "reset":
            self.close(reset=True)
        elif kind == "close":
            self.close()
        else:
            # Stop reading this direction: the sender's buffers fill, its writes block.
            await self.proxy._released.wait()
            await self.pump_rest(direction)

    async def pump_rest(self, direction: Direction) -> None:
        self.plan = attrs.evolve(self.plan, kind=None)
        await self.pump(direction)


@final
class FaultProxy:
    """A loopback TCP proxy to `upstream` (an "http://host:port" URL or a (host, port)).

    Use as an async context manager (asyncio); `endpoint` is the proxy's own URL.
    `seed` makes the sequence of planned faults reproducible (which connection gets which
    fault still depends on the order the client opens them). `planned` lists the fault
    planned for each accepted connection (None for none), `fired` counts the faults that
    actually fired, by kind.
    """

    def __init__(
        self,
        upstream: str | tuple[str, int],
        *,
        seed: int = 0,
        faults: Faults | None = None,
    ) -> None:
        if isinstance(upstream, str):
            parts = urlsplit(upstream if "//" in upstream else f"//{upstream}")
            if parts.hostname is None or parts.port is None:
                raise ValueError(f"upstream needs a host and a port, got {upstream!r}")
            upstream = (parts.hostname, parts.port)
        self.upstream = upstream
        self.faults = faults or Faults()
        self.fired: Counter[str] = Counter()
        self.planned: list[str | None] = []
        self._rng = random.Random(seed)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._open: set[_Connection] = set()
        self._released = asyncio.Event()
        self._closed = False
        self.port = 0

    @property
    def endpoint(self) -> str:
        """The proxy's URL, "http://127.0.0.1:<port>"."""
        return f"http://127.0.0.1:{self.port}"

    def release_stalls(self) -> None:
        """Let every stalled connection forward again (new stalls still stall)."""
        self._released.set()
        self._released = asyncio.Event()

    async def start(self) -> None:
        """Listen on a free loopback port."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stop listening and drop every open connection."""
        self._closed = True
        if self._server is not None:
            self._server.close()
        for conn in list(self._open):
            conn.close(reset=True)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> FaultProxy:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        if self._closed:
            _rst(writer)
            self._tasks.discard(task)
            return
        faults = self.faults
        plan = _draw(self._rng, faults)
        if faults.max_faults is not None and self.fired.total() >= faults.max_faults:
            plan = attrs.evolve(plan, kind=None)
        self.planned.append(plan.kind)
        try:
            try:
                upstream = await asyncio.open_connection(*self.upstream)
            except OSError:
                _rst(writer)
                return
            conn = _Connection(self, plan, (reader, writer), upstream, faults.latency)
            if self._closed:
                conn.close(reset=True)
                return
            self._open.add(conn)
            try:
                await asyncio.gather(conn.pump("request"), conn.pump("response"))
            finally:
                self._open.discard(conn)
                conn.close()
                await conn.closed()
        except asyncio.CancelledError:
            pass
        finally:
            self._tasks.discard(task)
