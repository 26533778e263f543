"""Test helpers: a delegating driver wrapper to inject faults and observe calls, and the
script of a save that SIGKILLs itself."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, Self

from artifacts_async.abc import (
    DeleteOutcome,
    Driver,
    DriverLimits,
    ObjectInfo,
    PartChecksums,
    PendingUpload,
    UploadedPart,
)

Hook = Callable[[str, dict[str, Any]], Awaitable[None]]


class WrappedDriver:
    """Delegates to `inner`; `hook(method, kwargs)` runs before each call and may raise,
    wait, or change `kwargs["data"]`. `calls` records (method, key, part number)."""

    def __init__(self, inner: Driver, hook: Hook | None = None) -> None:
        self.inner = inner
        self.hook = hook
        self.calls: list[tuple[str, str, int | None]] = []

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Self:
        raise NotImplementedError

    @property
    def limits(self) -> DriverLimits:
        return self.inner.limits

    def describe(self, key: str) -> str:
        return self.inner.describe(key)

    async def _before(self, method: str, **kwargs: Any) -> dict[str, Any]:
        self.calls.append((method, kwargs.get("key", ""), kwargs.get("number")))
        if self.hook is not None:
            await self.hook(method, kwargs)
        return kwargs

    async def put(self, key: str, data: bytes | bytearray, *, checksums: PartChecksums,
                  metadata: Mapping[str, str]) -> ObjectInfo:
        kw = await self._before("put", key=key, data=data)
        return await self.inner.put(key, kw["data"], checksums=checksums, metadata=metadata)

    async def start_upload(self, key: str, *, metadata: Mapping[str, str]) -> str:
        await self._before("start_upload", key=key)
        return await self.inner.start_upload(key, metadata=metadata)

    async def upload_part(self, key: str, upload_id: str, number: int,
                          data: bytes | bytearray, *, offset: int,
                          checksums: PartChecksums) -> UploadedPart:
        kw = await self._before("upload_part", key=key, number=number, data=data)
        return await self.inner.upload_part(key, upload_id, number, kw["data"], offset=offset,
                                            checksums=checksums)

    async def list_parts(self, key: str, upload_id: str) -> Sequence[UploadedPart]:
        await self._before("list_parts", key=key)
        return await self.inner.list_parts(key, upload_id)

    async def complete_upload(self, key: str, upload_id: str,
                              parts: Sequence[UploadedPart]) -> ObjectInfo:
        await self._before("complete_upload", key=key)
        return await self.inner.complete_upload(key, upload_id, parts)

    async def abort_upload(self, key: str, upload_id: str) -> None:
        await self._before("abort_upload", key=key)
        await self.inner.abort_upload(key, upload_id)

    async def list_uploads(self, prefix: str) -> Sequence[PendingUpload]:
        return await self.inner.list_uploads(prefix)

    async def stat(self, key: str) -> ObjectInfo:
        await self._before("stat", key=key)
        return await self.inner.stat(key)

    async def read(self, key: str, *, offset: int = 0,
                   length: int | None = None) -> AsyncIterator[bytes]:
        await self._before("read", key=key)
        async for chunk in self.inner.read(key, offset=offset, length=length):
            yield chunk

    async def delete(self, keys: Sequence[str]) -> Sequence[DeleteOutcome]:
        await self._before("delete", key=",".join(keys))
        return await self.inner.delete(keys)

    async def list(self, prefix: str) -> AsyncIterator[ObjectInfo]:
        async for info in self.inner.list(prefix):
            yield info

    async def aclose(self) -> None:
        await self.inner.aclose()


def hide_driver(monkeypatch: Any, name: str) -> None:
    """Make the installed driver `name` look uninstalled for one test (its install hint)."""
    import functools  # noqa: PLC0415 - only for this helper

    from artifacts_async import _registry  # noqa: PLC0415 - only for this helper

    installed = {n: ep for n, ep in _registry._entry_points().items() if n != name}
    monkeypatch.setattr(_registry, "_entry_points", functools.cache(lambda: installed))
    _registry.load_driver.cache_clear()


def killable_save_script(*, event: str, line: str, options: str, name: str) -> str:
    """A script saving one output `name` to the local driver, that SIGKILLs itself after
    a given number of `event` progress events, printing `line` (an f-string body over
    `event`) for each. Its arguments: store root, state dir, source, events before the kill
    (0: never). `options`: the TransferOptions arguments (`state` is the state dir)."""
    return textwrap.dedent("""
        import os, signal, sys
        import anyio
        import artifacts_async as aa

        root, state, source, kill_after = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
        done = 0

        def progress(event):
            global done
            if event.name == EVENT:
                done += 1
                print(f"LINE", flush=True)
                if kill_after and done >= kill_after:
                    os.kill(os.getpid(), signal.SIGKILL)

        async def main():
            config = aa.RepositoryConfig.from_dict(
                {"repositories": {"local": {"driver": "local", "root": root}}})
            options = aa.TransferOptions(OPTIONS)
            async with aa.Artifacts(config, options=options) as arts:
                result = await arts.save_outputs(
                    [aa.OutputArtifact(name=NAME, path=source, archive=aa.Archive.none())],
                    context=aa.Context(workflow_name="wf", pod_name="p"), on_progress=progress)
            result.raise_for_errors()
            print("stored", result.records[0].checksum, flush=True)

        anyio.run(main)
    """).replace("EVENT", repr(event)).replace("LINE", line).replace(
        "OPTIONS", options).replace("NAME", repr(name))
