"""Stream stored artifacts to stdout or into an HTTP response, with no copy on disk.

    python examples/stream_download.py [--s3] [WORKDIR]                 # HTTP demo
    python examples/stream_download.py [--s3] WORKDIR --stdout logs > logs.tgz

The script stores a 32 MiB file and a directory (a .tgz archive), then serves both over a
small HTTP server (chunked transfer encoding, straight from `artifacts.stream()`), fetches
them, checks the file's SHA-256 and unpacks the archive as it arrives. With `--stdout NAME`
it writes one artifact's stored bytes to stdout instead.

The whole-object checksum is checked after the last chunk. When it does not match, the HTTP
response is cut off without its final chunk, so the client sees a broken transfer instead
of a complete, wrong body.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path

import anyio
from anyio.abc import SocketStream
from example_repos import repository_config, use_s3

import artifacts_async as aa


def make_outputs(work: Path) -> tuple[Path, Path]:
    big = work / "out" / "weights.bin"
    logs = work / "out" / "logs"
    (logs / "epochs").mkdir(parents=True, exist_ok=True)
    with big.open("wb") as f:
        for _ in range(32):
            f.write(os.urandom(1024 * 1024))
    for i in range(3):
        (logs / "epochs" / f"{i}.log").write_text(f"epoch {i} done\n" * 100)
    return big, logs


async def serve(artifacts: aa.Artifacts, records: dict[str, aa.ArtifactRecord],
                client: SocketStream) -> None:
    """Answer one `GET /artifacts/NAME` with the object's bytes as they are read."""
    async with client:
        request = b""
        while b"\r\n\r\n" not in request:
            request += await client.receive()
        path = request.split(b" ", 2)[1].decode()
        record = records.get(path.removeprefix("/artifacts/"))
        if record is None:
            await client.send(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
                              b"Connection: close\r\n\r\n")
            return
        await client.send(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                          b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        async with artifacts.stream(record) as chunks:
            async for chunk in chunks:
                await client.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        # Reached only when the checksum matched: the final chunk completes the response.
        await client.send(b"0\r\n\r\n")


def fetch_file(url: str) -> str:
    """GET `url`; the SHA-256 of the body, hashed as it arrives."""
    digest = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=60) as response:
        while chunk := response.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_archive(url: str) -> dict[str, bytes]:
    """GET `url` and unpack the .tgz as a stream; the files it holds, by name."""
    files = {}
    with urllib.request.urlopen(url, timeout=60) as response, \
            tarfile.open(fileobj=response, mode="r|gz") as archive:
        for member in archive:
            extracted = archive.extractfile(member) if member.isfile() else None
            if extracted is not None:
                files[member.name.removeprefix("./")] = extracted.read()
    return files


async def main(work: Path, *, s3: bool, stdout_name: str | None) -> None:
    big, logs = make_outputs(work)
    config = repository_config(work, s3=s3)
    context = aa.Context(workflow_name="stream", workflow_uid="7d2e", pod_name="stream-1")
    async with aa.Artifacts(config, options=aa.TransferOptions(state_dir=work / "state")
                            ) as artifacts:
        result = await artifacts.save_outputs(
            [aa.OutputArtifact(name="weights", path=big, archive=aa.Archive.none()),
             aa.OutputArtifact(name="logs", path=logs)], context=context)
        result.raise_for_errors()
        records = {r.name: r for r in result.records}
        if stdout_name is not None:
            out = sys.stdout.buffer
            async with artifacts.stream(records[stdout_name]) as chunks:
                async for chunk in chunks:
                    out.write(chunk)
            out.flush()
            return
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        async with listener, anyio.create_task_group() as tg:
            async def handle(client: SocketStream) -> None:
                await serve(artifacts, records, client)

            tg.start_soon(listener.serve, handle)
            base = f"http://127.0.0.1:{port}/artifacts"
            got = await anyio.to_thread.run_sync(fetch_file, f"{base}/weights")
            want = hashlib.sha256(big.read_bytes()).hexdigest()
            print(f"weights: streamed over HTTP, sha256 {'matches' if got == want else 'DIFFERS'}")
            files = await anyio.to_thread.run_sync(fetch_archive, f"{base}/logs")
            # Members are stored under the directory's name: logs/epochs/0.log.
            same = all(files.get(p.relative_to(logs.parent).as_posix()) == p.read_bytes()
                       for p in logs.rglob("*") if p.is_file())
            print(f"logs: {len(files)} files unpacked from the HTTP stream, "
                  f"{'all match' if same else 'SOME DIFFER'}")
            tg.cancel_scope.cancel()
        if got != want or not same:
            raise SystemExit(1)


if __name__ == "__main__":
    s3 = use_s3()
    args = sys.argv[1:]
    name = None
    if "--stdout" in args:
        name = args[args.index("--stdout") + 1]
        del args[args.index("--stdout"):args.index("--stdout") + 2]
    if args:
        anyio.run(lambda: main(Path(args[0]), s3=s3, stdout_name=name))
    else:
        with tempfile.TemporaryDirectory(prefix="artifacts-async-stream-") as tmp:
            anyio.run(lambda: main(Path(tmp), s3=s3, stdout_name=name))
