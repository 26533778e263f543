"""Argo's `ArtifactService` over gRPC: each method maps a request onto `_operations`.

Every failure is answered in the response's `error` field (Argo reads it there), with the
library's message; nothing a request does can stop the server.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any, TypeVar

import grpc.aio

from .._artifacts import Artifacts
from .._exceptions import ArtifactError, ConfigurationError
from . import _operations as ops
from ._proto import artifact_pb2 as pb
from ._proto.artifact_pb2_grpc import ArtifactServiceServicer
from ._settings import Repositories

__all__ = ["ArtifactService"]

log = logging.getLogger("artifacts_async.argo")
T = TypeVar("T")
Context = grpc.aio.ServicerContext[Any, Any]


def describe(exc: BaseException) -> str:
    """The `error` text of a failed request."""
    if isinstance(exc, ArtifactError):
        return f"{type(exc).__name__}: {exc}"
    return f"internal error in the artifacts-async plugin ({type(exc).__name__}: {exc})"


def _failed(method: str, key: str, exc: Exception) -> str:
    """Log a failed request; return its `error` text."""
    error = describe(exc)
    if isinstance(exc, ArtifactError):
        log.warning("%s %s failed: %s", method, key, error)
    else:  # a bug: keep the traceback
        log.error("%s %s failed: %s", method, key, error, exc_info=exc)
    return error


class ArtifactService(ArtifactServiceServicer):
    """The eight methods of Argo's artifact plugin contract (named as the contract names
    them)."""

    def __init__(self, repositories: Repositories) -> None:
        self.repositories = repositories

    def _target(self, artifact: pb.Artifact, method: str) -> tuple[Artifacts, str, str]:
        """The request's `Artifacts`, artifact name and key."""
        if not artifact.HasField("plugin"):
            raise ConfigurationError(f"{method}: the artifact has no 'plugin' section")
        if not artifact.plugin.key:
            raise ConfigurationError(f"{method}: artifact.plugin.key is empty: give a key")
        artifacts = self.repositories.get(artifact.plugin.configuration)
        return artifacts, artifact.name, artifact.plugin.key

    async def _run(self, method: str, artifact: pb.Artifact,
                   work: Awaitable[T]) -> tuple[T | None, str]:
        """Await `work`; return its result and '', or None and the error text."""
        started = time.monotonic()
        try:
            result = await work
        except Exception as exc:
            return None, _failed(method, artifact.plugin.key, exc)
        log.info("%s %s done in %.2f s", method, artifact.plugin.key, time.monotonic() - started)
        return result, ""

    async def Save(
        self, request: pb.SaveArtifactRequest, context: Context
    ) -> pb.SaveArtifactResponse:
        """Store the file or directory at `request.path` under the artifact's key."""
        async def work() -> None:
            artifacts, name, key = self._target(request.output_artifact, "Save")
            await ops.save(artifacts, name, key, Path(request.path))

        _, error = await self._run("Save", request.output_artifact, work())
        return pb.SaveArtifactResponse(success=not error, error=error)

    async def SaveStream(
        self, request_iterator: AsyncIterator[pb.SaveStreamArtifactRequest], context: Context
    ) -> pb.SaveArtifactResponse:
        """Store the chunks of the frames after the first (the metadata) as they arrive."""
        first = await anext(aiter(request_iterator), None)
        if first is None or not first.HasField("output_artifact"):
            error = describe(ConfigurationError(
                "SaveStream: the first frame must carry output_artifact (metadata only)"))
            return pb.SaveArtifactResponse(success=False, error=error)

        async def chunks() -> AsyncIterator[bytes]:
            if first.chunk:
                yield first.chunk
            async for frame in request_iterator:
                if frame.chunk:
                    yield frame.chunk

        async def work() -> None:
            artifacts, name, key = self._target(first.output_artifact, "SaveStream")
            await ops.save_stream(artifacts, name, key, chunks())

        _, error = await self._run("SaveStream", first.output_artifact, work())
        return pb.SaveArtifactResponse(success=not error, error=error)

    async def GetCapabilities(
        self, request: pb.GetCapabilitiesRequest, context: Context
    ) -> pb.GetCapabilitiesResponse:
        """SaveStream is supported."""
        return pb.GetCapabilitiesResponse(supports_save_stream=True)

    async def Load(
        self, request: pb.LoadArtifactRequest, context: Context
    ) -> pb.LoadArtifactResponse:
        """Write the artifact to `request.path` (a file, or a directory of its objects)."""
        async def work() -> None:
            artifacts, name, key = self._target(request.input_artifact, "Load")
            await ops.load(artifacts, name, key, Path(request.path))

        _, error = await self._run("Load", request.input_artifact, work())
        return pb.LoadArtifactResponse(success=not error, error=error)

    async def OpenStream(
        self, request: pb.OpenStreamRequest, context: Context
    ) -> AsyncIterator[pb.OpenStreamResponse]:
        """The object's bytes in frames, then `is_end`; or a frame with `error`.

        Each frame is read from the backend only after the previous one was handed to
        gRPC, whose flow control waits for the client: memory stays at a few frames.
        """
        try:
            artifacts, _, key = self._target(request.artifact, "OpenStream")
            async for frame in ops.open_frames(artifacts, key):
                yield pb.OpenStreamResponse(data=frame)
        except Exception as exc:
            yield pb.OpenStreamResponse(error=_failed("OpenStream", request.artifact.plugin.key,
                                                      exc))
            return
        log.info("OpenStream %s done", key)
        yield pb.OpenStreamResponse(is_end=True)

    async def Delete(
        self, request: pb.DeleteArtifactRequest, context: Context
    ) -> pb.DeleteArtifactResponse:
        """Delete the artifact (and any objects under its key as a directory)."""
        async def work() -> None:
            artifacts, _, key = self._target(request.artifact, "Delete")
            await ops.delete(artifacts, key)

        _, error = await self._run("Delete", request.artifact, work())
        return pb.DeleteArtifactResponse(success=not error, error=error)

    async def ListObjects(
        self, request: pb.ListObjectsRequest, context: Context
    ) -> pb.ListObjectsResponse:
        """The keys under the artifact's key."""
        async def work() -> list[str]:
            artifacts, _, key = self._target(request.artifact, "ListObjects")
            return await ops.list_objects(artifacts, key)

        objects, error = await self._run("ListObjects", request.artifact, work())
        return pb.ListObjectsResponse(objects=objects or [], error=error)

    async def IsDirectory(
        self, request: pb.IsDirectoryRequest, context: Context
    ) -> pb.IsDirectoryResponse:
        """Whether objects lie under the artifact's key."""
        async def work() -> bool:
            artifacts, _, key = self._target(request.artifact, "IsDirectory")
            return await ops.is_directory(artifacts, key)

        result, error = await self._run("IsDirectory", request.artifact, work())
        return pb.IsDirectoryResponse(is_directory=bool(result), error=error)
