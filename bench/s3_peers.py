"""Benchmark: artifacts_async's S3 driver against other Python S3 clients, on one server.

Starts its own moto server (loopback), creates a file of `--size-mib` MiB, and uploads it
with each client, then downloads an object of that size to disk with each client. Every
run is a fresh subprocess, so CPU time (user+sys of the client process, from
`getrusage(RUSAGE_SELF)`, the server excluded) and peak RSS belong to that client alone.
Runs alternate between clients (`--rounds` > 1 repeats the cycle; medians are reported).

Clients, all with the same part size and concurrency:

- artifacts_async: `Artifacts.save_outputs` (archive none) / `load_inputs` by record;
- aioboto3: `upload_file` / `download_file` with a `TransferConfig`;
- s3fs: `_put_file` / `_get_file` (its async API);
- obstore: `put_async` / `get_async` streamed to a file.

The peers pin other versions of aiobotocore/botocore than this project, so they are best
installed in a separate virtualenv given with `--peer-python` (a missing client is
reported and skipped):

    python3 -m venv /tmp/peers && /tmp/peers/bin/pip install aioboto3 s3fs obstore
    .venv/bin/python bench/s3_peers.py --size-mib 1024 --peer-python /tmp/peers/bin/python

For the botocore-based clients an event hook records which integrity headers each
UploadPart / PutObject carried (Content-MD5, x-amz-checksum-*) and whether the payload was
hashed with SHA-256 for the signature. The table is printed and written to `--out`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import importlib
import importlib.metadata
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from artifacts_async.testing import ServerProcess, ServerStartError

MiB = 1024 * 1024
BUCKET = "bench"
ACCESS_KEY = "bench-access-key"
SECRET_KEY = "bench-secret-key"
REGION = "us-east-1"
# Clients, and the operations each variant runs: this library twice per operation (its
# defaults, and one alternative), then the peers.
CLIENTS = {
    "artifacts_async": ("upload", "download"),
    "artifacts_async-crc32c": ("upload",),
    "artifacts_async-stream": ("download",),
    "aioboto3": ("upload", "download"),
    "s3fs": ("upload", "download"),
    "obstore": ("upload", "download"),
}
_LABELS = {
    ("artifacts_async", "upload"): "artifacts_async (save_outputs)",
    ("artifacts_async-crc32c", "upload"): "artifacts_async (save_outputs, content_md5=false)",
    ("artifacts_async", "download"): "artifacts_async (load_inputs: parallel ranges)",
    ("artifacts_async-stream", "download"): "artifacts_async (open_stream: one GET)",
}
# The module each client needs in the interpreter that runs it.
_MODULES = {"artifacts_async": "artifacts_async_s3", "aioboto3": "aioboto3", "s3fs": "s3fs",
            "obstore": "obstore"}
_VERSIONS = {"artifacts_async": ["artifacts-async", "artifacts-async-s3", "aiobotocore",
                                 "botocore", "aiohttp"],
             "aioboto3": ["aioboto3", "aiobotocore", "botocore", "s3transfer", "aiohttp"],
             "s3fs": ["s3fs", "fsspec", "aiobotocore", "botocore", "aiohttp"],
             "obstore": ["obstore"]}


def _family(client: str) -> str:
    return client.split("-", 1)[0]


# --------------------------------------------------------------------------- children


class HeaderLog:
    """A botocore `before-send` hook: which integrity headers each operation carried."""

    def __init__(self) -> None:
        self.seen: dict[str, set[str]] = {}

    def __call__(self, request: Any, event_name: str = "", **_: Any) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        found = self.seen.setdefault(operation, set())
        for name, value in request.headers.items():
            lower = name.lower()
            if lower == "content-md5" or lower.startswith("x-amz-checksum-"):
                found.add(lower.removeprefix("x-amz-checksum-").upper()
                          if lower != "content-md5" else "MD5")
            elif lower == "x-amz-content-sha256":
                text = value.decode() if isinstance(value, bytes) else str(value)
                if not text.startswith(("UNSIGNED", "STREAMING")):
                    found.add("SHA256-signed")

    def describe(self, *operations: str) -> str:
        for operation in operations:
            if operation in self.seen:
                kinds = sorted(self.seen[operation] - {"SHA256-signed", "MODE"})
                text = "+".join(kinds) or "none"
                if "SHA256-signed" in self.seen[operation]:
                    text += " (+SHA-256 payload signing)"
                return text
        return "n/a"


def _validation(log: HeaderLog) -> str:
    # botocore asks for the object's checksum (x-amz-checksum-mode) and validates it when
    # S3 returns one: on whole-object GETs, not on ranged ones.
    if "MODE" in log.seen.get("GetObject", set()):
        return "checksum requested (x-amz-checksum-mode)"
    return "none"


def _s3_kwargs(endpoint: str) -> dict[str, Any]:
    return {"endpoint_url": endpoint, "region_name": REGION, "aws_access_key_id": ACCESS_KEY,
            "aws_secret_access_key": SECRET_KEY}


async def _ours(job: dict[str, Any]) -> dict[str, Any]:
    aa: Any = importlib.import_module("artifacts_async")
    repository = {
        "driver": "s3", "bucket": BUCKET, "endpoint": job["endpoint"], "region": REGION,
        "credentials": {"access_key_env": "BENCH_ACCESS_KEY",
                        "secret_key_env": "BENCH_SECRET_KEY"},
    }
    if job["client"] == "artifacts_async-crc32c":
        repository["content_md5"] = False
    config = aa.RepositoryConfig.from_dict({"repositories": {"s3": repository}})
    options = aa.TransferOptions(part_size=job["part"], max_parts_in_flight=job["concurrency"],
                                 state_dir=job["state"])
    context = aa.Context(workflow_name="bench", pod_name="p")
    log = HeaderLog()
    async with aa.Artifacts(config, options=options) as artifacts:
        driver = await artifacts.driver("s3")
        # Measurement only: hook the driver's (private) client to see what it sends.
        client = await driver._s3()
        client.meta.events.register("before-send.s3", log)
        start = _usage()
        if job["op"] == "upload":
            result = await artifacts.save_outputs(
                [aa.OutputArtifact(name="blob", path=job["source"], key=job["key"],
                                   archive=aa.Archive.none())], context=context)
            result.raise_for_errors()
            sent = log.describe("UploadPart", "PutObject")
        elif job["client"] == "artifacts_async-stream":
            record = aa.ArtifactRecord.from_dict(job["record"])
            with open(job["dest"], "wb") as f:  # noqa: ASYNC230 - as obstore's row does
                async for chunk in artifacts.open_stream(record):
                    f.write(chunk)
            sent = "whole-object CRC32C checked"
        else:
            record = aa.ArtifactRecord.from_dict(job["record"])
            await artifacts.load_inputs(
                [aa.InputArtifact(name="blob", path=job["dest"], record=record)], context=context)
            sent = "whole-object CRC32C checked"
    return {**_since(start), "checksums": sent}


async def _aioboto3(job: dict[str, Any]) -> dict[str, Any]:
    aioboto3: Any = importlib.import_module("aioboto3")
    transfer: Any = importlib.import_module("boto3.s3.transfer")
    config = transfer.TransferConfig(multipart_threshold=job["part"],
                                     multipart_chunksize=job["part"],
                                     max_concurrency=job["concurrency"])
    log = HeaderLog()
    async with aioboto3.Session().client("s3", **_s3_kwargs(job["endpoint"])) as s3:
        s3.meta.events.register("before-send.s3", log)
        start = _usage()
        if job["op"] == "upload":
            await s3.upload_file(job["source"], BUCKET, job["key"], Config=config)
            sent = log.describe("UploadPart", "PutObject")
        else:
            await s3.download_file(BUCKET, job["key"], job["dest"], Config=config)
            sent = _validation(log)
        return {**_since(start), "checksums": sent}


async def _s3fs(job: dict[str, Any]) -> dict[str, Any]:
    s3fs: Any = importlib.import_module("s3fs")
    fs = s3fs.S3FileSystem(key=ACCESS_KEY, secret=SECRET_KEY, asynchronous=True,
                           client_kwargs={"endpoint_url": job["endpoint"],
                                          "region_name": REGION})
    log = HeaderLog()
    session = await fs.set_session()
    session.meta.events.register("before-send.s3", log)
    start = _usage()
    if job["op"] == "upload":
        await fs._put_file(job["source"], f"{BUCKET}/{job['key']}", chunksize=job["part"],
                           max_concurrency=job["concurrency"])
        sent = log.describe("UploadPart", "PutObject")
    else:
        await fs._get_file(f"{BUCKET}/{job['key']}", job["dest"])
        sent = _validation(log)
    result = {**_since(start), "checksums": sent}
    await session.close()
    return result


async def _obstore(job: dict[str, Any]) -> dict[str, Any]:
    obs: Any = importlib.import_module("obstore")
    stores: Any = importlib.import_module("obstore.store")
    store = stores.S3Store(BUCKET, endpoint=job["endpoint"], region=REGION,
                           access_key_id=ACCESS_KEY, secret_access_key=SECRET_KEY,
                           virtual_hosted_style_request=False,
                           client_options={"allow_http": True})
    start = _usage()
    if job["op"] == "upload":
        await obs.put_async(store, job["key"], Path(job["source"]), chunk_size=job["part"],
                            max_concurrency=job["concurrency"])
        # object_store sends no per-part checksum unless `checksum_algorithm` is set.
        sent = "none (default; +SHA-256 payload signing)"
    else:
        result = await obs.get_async(store, job["key"])
        with open(job["dest"], "wb") as f:  # noqa: ASYNC230 - what a user of obstore writes
            async for chunk in result.stream(min_chunk_size=job["part"]):
                f.write(chunk)
        sent = "none"
    return {**_since(start), "checksums": sent}


# By client family (the part of the name before "-").
_RUNNERS: dict[str, Callable[[dict[str, Any]], Coroutine[Any, Any, dict[str, Any]]]] = {
    "artifacts_async": _ours, "aioboto3": _aioboto3, "s3fs": _s3fs, "obstore": _obstore,
}


def _usage() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return time.perf_counter(), usage.ru_utime + usage.ru_stime


def _since(start: tuple[float, float]) -> dict[str, Any]:
    wall0, cpu0 = start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    # CPU of the transfer itself: interpreter start-up and imports are excluded. Peak RSS
    # is the whole process's (ru_maxrss, KiB on Linux); all threads are counted.
    return {"wall": time.perf_counter() - wall0,
            "cpu": usage.ru_utime + usage.ru_stime - cpu0, "rss_kib": usage.ru_maxrss}


def child_main(client: str, job_json: str) -> None:
    """Run one transfer and print its measurements as one JSON line."""
    job = {**json.loads(job_json), "client": client}
    result = asyncio.run(_RUNNERS[_family(client)](job))
    versions = {}
    for name in _VERSIONS[_family(client)]:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[name] = importlib.metadata.version(name)
    print(json.dumps({**result, "versions": versions}))


# --------------------------------------------------------------------------- parent


class Moto:
    """A moto server on a loopback port, for the length of the benchmark."""

    def __init__(self, log: Path) -> None:
        try:
            self.server = ServerProcess(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", "{port}"],
                health_url="http://127.0.0.1:{port}/moto-api/", log=log,
            )
        except ServerStartError as exc:
            sys.exit(str(exc))
        self.endpoint = self.server.endpoint
        self.proc = self.server.proc

    def fresh_bucket(self) -> None:
        """Drop everything (moto keeps objects in memory) and create the bucket again."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=30):
            pass
        request = urllib.request.Request(f"{self.endpoint}/{BUCKET}", method="PUT")
        with urllib.request.urlopen(request, timeout=30):
            pass

    def close(self) -> None:
        self.server.close()


def _has_module(python: str, module: str) -> bool:
    return subprocess.run([python, "-c", f"import {module}"], capture_output=True,
                          check=False).returncode == 0


def _run_child(python: str, client: str, job: dict[str, Any], moto: Moto) -> dict[str, Any]:
    env = {**os.environ, "BENCH_ACCESS_KEY": ACCESS_KEY, "BENCH_SECRET_KEY": SECRET_KEY}
    server_before = moto.server.cpu_seconds()
    proc = subprocess.run(
        [python, str(Path(__file__).resolve()), "--child", client, json.dumps(job)],
        capture_output=True, text=True, env=env, check=False, timeout=3600,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{client} {job['op']} failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["server_cpu"] = moto.server.cpu_seconds() - server_before
    return result


def _head_size(endpoint: str, key: str) -> int:
    request = urllib.request.Request(f"{endpoint}/{BUCKET}/{key}", method="HEAD")
    with urllib.request.urlopen(request, timeout=30) as response:
        return int(response.headers["Content-Length"])


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(8 * MiB):
            digest.update(chunk)
    return digest.hexdigest()


def _crc32c_hex(path: Path) -> str:
    crc32c: Any = importlib.import_module("crc32c")
    value = 0
    with path.open("rb") as f:
        while chunk := f.read(8 * MiB):
            value = crc32c.crc32c(chunk, value)
    return f"{value:08x}"


class Bench:
    """One benchmark run: a source file, a moto server, and the clients' results."""

    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.source = work / "source.bin"
        with self.source.open("wb") as f:
            for _ in range(args.size_mib):
                f.write(os.urandom(MiB))
        self.size = self.source.stat().st_size
        self.source_sha = _sha256(self.source)
        self.moto = Moto(work / "moto.log")
        self.results: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.versions: dict[str, dict[str, str]] = {}

    def job(self, op: str, client: str, key: str, round_: int) -> dict[str, Any]:
        return {"op": op, "endpoint": self.moto.endpoint, "key": key,
                "source": str(self.source), "dest": str(self.work / f"download-{client}.bin"),
                "part": self.args.part_mib * MiB, "concurrency": self.args.concurrency,
                "state": str(self.work / f"state-{client}-{op}-{round_}"), "record": None}

    def seed_download_object(self) -> dict[str, Any]:
        """Upload the object every client downloads (with this library: its record is kept)."""
        self.moto.fresh_bucket()
        key = "bench/download.bin"
        _run_child(sys.executable, "artifacts_async", self.job("upload", "seed", key, 0),
                   self.moto)
        return {
            "name": "blob",
            "location": {"repository": "s3", "driver": "s3", "key": key, "url": ""},
            "archive": {"kind": "none", "compression_level": 0},
            "gc": "never", "status": "stored", "size": self.size,
            "checksum": f"crc32c:{_crc32c_hex(self.source)}",
        }

    def run(self, op: str, clients: list[str], pythons: dict[str, str]) -> None:
        record = self.seed_download_object() if op == "download" else None
        for round_ in range(self.args.rounds):
            for client in clients:
                if op == "upload":
                    self.moto.fresh_bucket()  # moto holds every object in memory
                    key = f"bench/{client}-{round_}.bin"
                else:
                    key = "bench/download.bin"
                job = {**self.job(op, client, key, round_), "record": record}
                print(f"{op} {client} (round {round_ + 1}/{self.args.rounds})...", flush=True)
                result = _run_child(pythons[client], client, job, self.moto)
                self.check(op, client, job)
                self.versions[_family(client)] = result.pop("versions")
                self.results.setdefault((client, op), []).append(result)
                print(f"  {result['wall']:.1f} s, client CPU {result['cpu']:.1f} s, server CPU "
                      f"{result['server_cpu']:.1f} s, RSS {result['rss_kib'] / 1024:.0f} MiB",
                      flush=True)

    def check(self, op: str, client: str, job: dict[str, Any]) -> None:
        """Every transfer must have moved exactly the source's bytes."""
        if op == "upload":
            stored = _head_size(self.moto.endpoint, job["key"])
            if stored != self.size:
                raise RuntimeError(f"{client} stored {stored} bytes of {self.size}")
            return
        dest = Path(job["dest"])
        if _sha256(dest) != self.source_sha:
            raise RuntimeError(f"{client} downloaded other bytes than were uploaded")
        dest.unlink()

    def rows(self, clients: list[str]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for op in ("upload", "download"):
            for client in clients:
                if op not in CLIENTS[client]:
                    continue
                label = _LABELS.get((client, op), client)
                runs = self.results.get((client, op))
                if not runs:
                    rows.append({"label": label, "op": op, "skipped": "not installed"})
                    continue
                rows.append({
                    "label": label, "op": op,
                    "wall": statistics.median(r["wall"] for r in runs),
                    "cpu": statistics.median(r["cpu"] for r in runs),
                    "server_cpu": statistics.median(r["server_cpu"] for r in runs),
                    "rss_kib": max(r["rss_kib"] for r in runs),
                    "checksums": runs[-1]["checksums"],
                })
        return rows


def _machine() -> str:
    mem_kib = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    cpu = platform.processor() or platform.machine()
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (f"{os.cpu_count()} cores ({cpu}), {mem_kib / 2**20:.1f} GiB RAM, "
            f"{platform.system()} {platform.release()}, Python {platform.python_version()}")


def _table(rows: list[dict[str, Any]], size_mib: int) -> list[str]:
    gib = size_mib / 1024
    lines = ["| client | operation | wall (s) | MiB/s | client CPU s/GiB | peak client RSS (MiB) "
             "| server CPU s/GiB | integrity data sent / checked |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        if row.get("skipped"):
            lines.append(f"| {row['label']} | {row['op']} | - | - | - | - | - | "
                         f"{row['skipped']} |")
            continue
        wall = row["wall"]
        lines.append(
            f"| {row['label']} | {row['op']} | {wall:.1f} | {size_mib / wall:.0f} | "
            f"{row['cpu'] / gib:.2f} | {row['rss_kib'] / 1024:.0f} | "
            f"{row['server_cpu'] / gib:.1f} | {row['checksums']} |"
        )
    return lines


def _report(bench: Bench, clients: list[str]) -> str:
    args = bench.args
    lines = [
        f"Object of {args.size_mib} MiB, part size {args.part_mib} MiB, "
        f"{args.concurrency} requests in flight, against moto "
        f"{importlib.metadata.version('moto')} in server mode on the same machine; "
        f"{args.rounds} round(s), median wall and CPU, largest RSS.",
        "",
        *_table(bench.rows(clients), args.size_mib),
        "",
        f"Machine: {_machine()}.",
        "",
        "Versions: " + "; ".join(
            f"{family}: " + ", ".join(f"{k} {v}" for k, v in sorted(vs.items()))
            for family, vs in bench.versions.items()
        ) + ".",
    ]
    return "\n".join(lines)


_START, _END = "<!-- s3_peers:start -->", "<!-- s3_peers:end -->"


def _write_doc(path: Path, text: str) -> None:
    """Put the results between the markers of `path`, keeping the prose around them."""
    block = f"{_START}\n{text}\n{_END}"
    old = path.read_text() if path.exists() else ""
    if _START in old and _END in old:
        head, _, rest = old.partition(_START)
        _, _, tail = rest.partition(_END)
        new = head + block + tail
    else:
        new = (f"# S3 clients compared\n\nGenerated by `bench/s3_peers.py`.\n\n{block}\n"
               if not old else f"{old.rstrip()}\n\n{block}\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new)


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--part-mib", type=int, default=16)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--clients", default=",".join(CLIENTS),
                        help=f"comma-separated, from: {', '.join(CLIENTS)}")
    parser.add_argument("--peer-python", default=os.environ.get("S3_PEERS_PYTHON",
                                                               sys.executable),
                        help="the interpreter that runs aioboto3, s3fs and obstore")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parent.parent / "docs"
                        / "benchmarks-s3.md")
    parser.add_argument("--child", nargs=2, metavar=("CLIENT", "JOB"), help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = _parse()
    if args.child:
        child_main(*args.child)
        return
    clients = [c for c in args.clients.split(",") if c]
    unknown = set(clients) - set(CLIENTS)
    if unknown:
        sys.exit(f"unknown client(s): {', '.join(sorted(unknown))}")
    pythons = {c: sys.executable if _family(c) == "artifacts_async" else args.peer_python
               for c in clients}
    available = []
    for client in clients:
        module = _MODULES[_family(client)]
        if _has_module(pythons[client], module):
            available.append(client)
        else:
            print(f"{client}: module {module!r} is not installed in {pythons[client]}; "
                  "skipping it (install it there to compare)")
    with tempfile.TemporaryDirectory(dir=args.workdir, prefix="s3-peers-") as tmp:
        bench = Bench(args, Path(tmp))
        try:
            for op in ("upload", "download"):
                bench.run(op, [c for c in available if op in CLIENTS[c]], pythons)
        finally:
            bench.moto.close()
    text = _report(bench, clients)
    print()
    print(text)
    _write_doc(args.out, text)
    print(f"\n(written to {args.out})")


if __name__ == "__main__":
    main()
