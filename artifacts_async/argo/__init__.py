"""An Argo Workflows artifact plugin backed by artifacts_async (`artifacts-async[argo]`).

`artifacts-async-argo-plugin SOCKET_PATH` serves Argo's `ArtifactService` (gRPC, Argo's
`pkg/apiclient/artifact/artifact.proto`) on a Unix socket, so that Argo's executor,
controller and server save, load, stream and collect artifacts through this library. See
docs/argo-plugin.md.
"""

from __future__ import annotations

try:
    from ._server import main, serve
except ImportError as exc:  # pragma: no cover - depends on what is installed
    if exc.name not in ("grpc", "google", "google.protobuf"):
        raise
    raise ImportError(
        "the Argo plugin needs grpcio and protobuf: pip install 'artifacts-async[argo]'"
    ) from exc

__all__ = ["main", "serve"]
