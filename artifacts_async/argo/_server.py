"""The plugin process: a gRPC server on a Unix socket, stopped gracefully by SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import grpc.aio

from .._options import MiB, TransferOptions
from ._proto.artifact_pb2_grpc import add_ArtifactServiceServicer_to_server
from ._service import ArtifactService
from ._settings import Repositories

__all__ = ["main", "serve"]

log = logging.getLogger("artifacts_async.argo")

DEFAULT_STATE_DIR = Path("/tmp/artifacts-async")  # Argo guarantees /tmp is writable
# Argo sends SaveStream chunks of 2 MiB; leave room for larger senders.
_MAX_MESSAGE = 16 * MiB


async def serve(
    socket_path: Path,
    *,
    options: TransferOptions,
    grace: float = 25.0,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve Argo's `ArtifactService` on `socket_path` until SIGTERM/SIGINT (or `stop`).

    On a stop signal the server takes no new requests, lets those in flight finish for up
    to `grace` seconds, cancels the rest (their uploads are aborted or kept for resume),
    closes every driver and removes the socket.
    """
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    repositories = Repositories(options)
    server = grpc.aio.server(options=[
        ("grpc.max_receive_message_length", _MAX_MESSAGE),
        ("grpc.max_send_message_length", _MAX_MESSAGE),
    ])
    add_ArtifactServiceServicer_to_server(ArtifactService(repositories), server)
    _remove(socket_path)  # a stale socket of an earlier run
    socket_path.parent.mkdir(parents=True, exist_ok=True)
    server.add_insecure_port(f"unix:{socket_path}")
    await server.start()
    # The executor, the controller and argo-server may run as other users than the
    # sidecar; the socket sits in a volume private to the pod.
    os.chmod(socket_path, 0o666)
    log.info("serving Argo's ArtifactService on %s (budget %d MiB, %d parts; journal in %s)",
             socket_path, options.max_buffer_bytes // MiB, options.max_parts_in_flight,
             options.state_dir)
    try:
        await stop.wait()
        log.info("stopping: letting requests in flight finish (up to %.0f s)", grace)
        await server.stop(grace)
    finally:
        await repositories.aclose()
        _remove(socket_path)
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    log.info("stopped")


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _parser(prog: str = "artifacts-async-argo-plugin") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Serve Argo Workflows' artifact plugin gRPC API on a Unix socket, "
                    "backed by artifacts_async.",
    )
    parser.add_argument("socket", type=Path, help="the Unix socket to listen on (Argo gives it)")
    parser.add_argument("--state-dir", type=Path,
                        default=Path(os.environ.get("ARTIFACTS_ASYNC_STATE_DIR")
                                     or DEFAULT_STATE_DIR),
                        help="resume journal directory (default: $ARTIFACTS_ASYNC_STATE_DIR "
                             f"or {DEFAULT_STATE_DIR})")
    parser.add_argument("--max-buffer-bytes", type=int, default=256 * MiB,
                        help="memory budget shared by every transfer of the server")
    parser.add_argument("--max-parts-in-flight", type=int, default=8,
                        help="parts in flight, shared by every transfer of the server")
    parser.add_argument("--no-resume", dest="resume", action="store_false",
                        help="do not journal multipart uploads for resume")
    parser.add_argument("--grace-period", type=float, default=25.0,
                        help="seconds requests in flight get to finish after SIGTERM")
    parser.add_argument("--log-level", default=os.environ.get("LOG_LEVEL", "INFO"))
    return parser


def main(argv: Sequence[str] | None = None, *, prog: str = "artifacts-async-argo-plugin") -> int:
    """Entry point of `artifacts-async-argo-plugin SOCKET_PATH [options]`.

    Another command line can expose it as a subcommand by passing its arguments and its
    name: `main(["/tmp/plugin.sock"], prog="artifacts-async argo-plugin")`.
    """
    args = _parser(prog).parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from .._exceptions import ConfigurationError  # noqa: PLC0415 - only for this message

    try:
        options = TransferOptions(max_buffer_bytes=args.max_buffer_bytes,
                                  max_parts_in_flight=args.max_parts_in_flight,
                                  resume=args.resume, state_dir=args.state_dir)
    except ConfigurationError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    asyncio.run(serve(args.socket, options=options, grace=args.grace_period))
    return 0
