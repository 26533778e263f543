"""Benchmark: artifacts_async's Azure driver against other Python Azure Blob clients.

Starts its own Azurite (loopback, in memory), creates a file of `--size-mib` MiB, and
uploads it with each client, then downloads a blob of that size to disk with each client.
Every transfer is a fresh subprocess, so CPU time (user+sys of the client process, from
`getrusage(RUSAGE_SELF)`, interpreter start-up and imports excluded, Azurite excluded) and
peak RSS belong to that client alone. Clients alternate within each round; `--rounds`
(at least 3 for figures worth writing down) repeats the cycle. Reported: medians, the
spread of each client's runs ((max - min) / median), and ratios to the SDK's own transfer
of the same run.

Clients, with the same block size and concurrency where they take one:

- artifacts_async: `Artifacts.save_outputs` (archive none; MD5 per block, which the
  service checks) / `load_inputs` by record (concurrent ranged reads, CRC32C checked);
  variants: `content_md5 = false`, and `open_stream` (one sequential read);
- azure-sdk: azure-storage-blob's own `upload_blob(max_concurrency=N)` /
  `download_blob(max_concurrency=N).readinto(file)`, with and without
  `validate_content=True` (MD5 per block, computed by the SDK);
- adlfs: `_put_file` / `_get_file` (fsspec, on the same SDK, with the SDK's default blocks);
- obstore: `put_async` / `get_async` streamed to a file (Rust object_store, emulator mode).

adlfs and obstore are best installed in a separate virtualenv given with `--peer-python`
(a missing client is reported and skipped):

    python3 -m venv /tmp/az-peers && /tmp/az-peers/bin/pip install adlfs obstore
    .venv/bin/python bench/azure_peers.py --rounds 3 --peer-python /tmp/az-peers/bin/python
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
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

MiB = 1024 * 1024
ACCOUNT = "devstoreaccount1"
# Azurite's well-known development key (public, documented by Microsoft).
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
ROOT = Path(__file__).resolve().parent.parent
CLIENTS = {
    "artifacts_async": ("upload", "download"),
    "artifacts_async-nomd5": ("upload",),
    "artifacts_async-stream": ("download",),
    "azure-sdk": ("upload", "download"),
    "azure-sdk-md5": ("upload",),
    "adlfs": ("upload", "download"),
    "obstore": ("upload", "download"),
}
_LABELS = {
    ("artifacts_async", "upload"): "artifacts_async (save_outputs, MD5 per block)",
    ("artifacts_async-nomd5", "upload"): "artifacts_async (save_outputs, content_md5=false)",
    ("artifacts_async", "download"): "artifacts_async (load_inputs: parallel ranges)",
    ("artifacts_async-stream", "download"): "artifacts_async (open_stream: sequential)",
    ("azure-sdk", "upload"): "azure-sdk upload_blob (no checksum)",
    ("azure-sdk-md5", "upload"): "azure-sdk upload_blob (validate_content=True)",
    ("azure-sdk", "download"): "azure-sdk download_blob",
}
_MODULES = {"artifacts_async": "artifacts_async_azure", "azure-sdk": "azure.storage.blob",
            "adlfs": "adlfs", "obstore": "obstore"}
_VERSIONS = {"artifacts_async": ["artifacts-async", "artifacts-async-azure",
                                 "azure-storage-blob", "aiohttp"],
             "azure-sdk": ["azure-storage-blob", "azure-core", "aiohttp"],
             "adlfs": ["adlfs", "fsspec", "azure-storage-blob"],
             "obstore": ["obstore"]}


def _family(client: str) -> str:
    return client.removesuffix("-nomd5").removesuffix("-stream").removesuffix("-md5")


def _connection_string(endpoint: str) -> str:
    return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={endpoint};")


# --------------------------------------------------------------------------- children


async def _ours(job: dict[str, Any]) -> None:
    aa: Any = importlib.import_module("artifacts_async")
    repository = {"driver": "azure", "endpoint": job["endpoint"], "container": job["container"],
                  "credentials": {"account_key_env": "BENCH_AZURE_KEY"}}
    if job["client"] == "artifacts_async-nomd5":
        repository["content_md5"] = False
    config = aa.RepositoryConfig.from_dict({"repositories": {"azure": repository}})
    options = aa.TransferOptions(part_size=job["part"], max_parts_in_flight=job["concurrency"],
                                 state_dir=job["state"])
    context = aa.Context(workflow_name="bench", pod_name="p")
    async with aa.Artifacts(config, options=options) as artifacts:
        if job["op"] == "upload":
            result = await artifacts.save_outputs(
                [aa.OutputArtifact(name="blob", path=job["source"], key=job["key"],
                                   archive=aa.Archive.none())], context=context)
            result.raise_for_errors()
            return
        record = aa.ArtifactRecord.from_dict(job["record"])
        if job["client"] == "artifacts_async-stream":
            with open(job["dest"], "wb") as f:  # noqa: ASYNC230 - as the SDK's row does
                async for chunk in artifacts.open_stream(record):
                    f.write(chunk)
            return
        await artifacts.load_inputs(
            [aa.InputArtifact(name="blob", path=job["dest"], record=record)], context=context)


async def _sdk(job: dict[str, Any]) -> None:
    aio: Any = importlib.import_module("azure.storage.blob.aio")
    service = aio.BlobServiceClient.from_connection_string(
        _connection_string(job["endpoint"]), max_block_size=job["part"],
        max_single_put_size=job["part"], max_chunk_get_size=job["part"])
    async with service:
        blob = service.get_blob_client(job["container"], job["key"])
        if job["op"] == "upload":
            with open(job["source"], "rb") as f:  # noqa: ASYNC230 - the SDK reads it itself
                await blob.upload_blob(f, overwrite=True, max_concurrency=job["concurrency"],
                                       validate_content=job["client"] == "azure-sdk-md5")
            return
        downloader = await blob.download_blob(max_concurrency=job["concurrency"])
        with open(job["dest"], "wb") as f:  # noqa: ASYNC230 - the SDK writes it itself
            await downloader.readinto(f)


async def _adlfs(job: dict[str, Any]) -> None:
    adlfs: Any = importlib.import_module("adlfs")
    fs = adlfs.AzureBlobFileSystem(connection_string=_connection_string(job["endpoint"]),
                                   asynchronous=True, max_concurrency=job["concurrency"])
    path = f"{job['container']}/{job['key']}"
    if job["op"] == "upload":
        await fs._put_file(job["source"], path, max_concurrency=job["concurrency"])
    else:
        await fs._get_file(path, job["dest"], max_concurrency=job["concurrency"])
    with contextlib.suppress(Exception):
        await fs.service_client.close()


async def _obstore(job: dict[str, Any]) -> None:
    obs: Any = importlib.import_module("obstore")
    stores: Any = importlib.import_module("obstore.store")
    # Emulator mode: path-style URLs with the account name, at AZURITE_BLOB_STORAGE_URL.
    os.environ["AZURITE_BLOB_STORAGE_URL"] = job["endpoint"].removesuffix(f"/{ACCOUNT}")
    store = stores.AzureStore(job["container"], account_name=ACCOUNT, account_key=ACCOUNT_KEY,
                              use_emulator=True, client_options={"allow_http": True})
    if job["op"] == "upload":
        await obs.put_async(store, job["key"], Path(job["source"]), chunk_size=job["part"],
                            max_concurrency=job["concurrency"])
        return
    result = await obs.get_async(store, job["key"])
    with open(job["dest"], "wb") as f:  # noqa: ASYNC230 - what a user of obstore writes
        async for chunk in result.stream(min_chunk_size=job["part"]):
            f.write(chunk)


_RUNNERS: dict[str, Callable[[dict[str, Any]], Coroutine[Any, Any, None]]] = {
    "artifacts_async": _ours, "azure-sdk": _sdk, "adlfs": _adlfs, "obstore": _obstore,
}


# What each client imports before the clock starts (imports are not the transfer's cost).
_IMPORTS = {"artifacts_async": ["artifacts_async", "artifacts_async_azure"],
            "azure-sdk": ["azure.storage.blob.aio"], "adlfs": ["adlfs"], "obstore": ["obstore"]}


def child_main(client: str, job_json: str) -> None:
    """Run one transfer and print its measurements as one JSON line."""
    job = {**json.loads(job_json), "client": client}
    for module in _IMPORTS[_family(client)]:
        importlib.import_module(module)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    wall0, cpu0 = time.perf_counter(), usage.ru_utime + usage.ru_stime
    asyncio.run(_RUNNERS[_family(client)](job))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    versions = {}
    for name in _VERSIONS[_family(client)]:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[name] = importlib.metadata.version(name)
    # Peak RSS is the whole process's (ru_maxrss, KiB on Linux); all threads are counted.
    print(json.dumps({"wall": time.perf_counter() - wall0,
                      "cpu": usage.ru_utime + usage.ru_stime - cpu0,
                      "rss_kib": usage.ru_maxrss, "versions": versions}))


# --------------------------------------------------------------------------- parent


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
    """One run: a source file, an Azurite, and each client's measurements."""

    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.source = work / "source.bin"
        with self.source.open("wb") as f:
            for _ in range(args.size_mib):
                f.write(os.urandom(MiB))
        self.size = self.source.stat().st_size
        self.source_sha = _sha256(self.source)
        # Imported here: the children (peers in another virtualenv) need only their client.
        testing: Any = importlib.import_module("artifacts_async.testing")
        launcher = os.environ.get("AZURITE_BLOB") or str(
            ROOT / ".tools" / "azurite" / "node_modules" / ".bin" / "azurite-blob")
        try:
            self.server = testing.ServerProcess(
                [launcher, "--blobHost", "127.0.0.1", "--blobPort", "{port}",
                 "--inMemoryPersistence", "--skipApiVersionCheck", "--disableTelemetry",
                 "--silent"],
                health_url=f"http://127.0.0.1:{{port}}/{ACCOUNT}?comp=list",
                log=work / "azurite.log", cwd=work, timeout=120,
            )
        except testing.ServerStartError as exc:
            sys.exit(str(exc))
        self.endpoint = f"{self.server.endpoint}/{ACCOUNT}"
        blob: Any = importlib.import_module("azure.storage.blob")
        self.service = blob.BlobServiceClient.from_connection_string(
            _connection_string(self.endpoint))
        self.results: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.versions: dict[str, dict[str, str]] = {}

    def fresh_container(self, name: str) -> None:
        """An empty container (Azurite holds every blob in memory: drop the old ones)."""
        with contextlib.suppress(Exception):
            self.service.delete_container(name)
        for _ in range(50):  # Azurite may still be deleting it
            try:
                self.service.create_container(name)
                return
            except Exception:  # ContainerBeingDeleted: try again
                time.sleep(0.1)
        self.service.create_container(name)

    def job(self, op: str, client: str, key: str, container: str, round_: int) -> dict[str, Any]:
        return {"op": op, "endpoint": self.endpoint, "container": container, "key": key,
                "source": str(self.source), "dest": str(self.work / f"download-{client}.bin"),
                "part": self.args.part_mib * MiB, "concurrency": self.args.concurrency,
                "state": str(self.work / f"state-{client}-{op}-{round_}"), "record": None}

    def child(self, python: str, client: str, job: dict[str, Any]) -> dict[str, Any]:
        env = {**os.environ, "BENCH_AZURE_KEY": ACCOUNT_KEY}
        server_before = self.server.cpu_seconds()
        proc = subprocess.run(
            [python, str(Path(__file__).resolve()), "--child", client, json.dumps(job)],
            capture_output=True, text=True, env=env, check=False, timeout=3600,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"{client} {job['op']} failed:\n{proc.stderr[-3000:]}")
        result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
        result["server_cpu"] = self.server.cpu_seconds() - server_before
        return result

    def seed(self) -> dict[str, Any]:
        """Upload the blob every client downloads (with this library: its record is kept)."""
        self.fresh_container("download")
        key = "bench/download.bin"
        self.child(sys.executable, "artifacts_async",
                   self.job("upload", "seed", key, "download", 0))
        return {
            "name": "blob",
            "location": {"repository": "azure", "driver": "azure", "key": key, "url": ""},
            "archive": {"kind": "none", "compression_level": 0},
            "gc": "never", "status": "stored", "size": self.size,
            "checksum": f"crc32c:{_crc32c_hex(self.source)}",
        }

    def run(self, op: str, clients: list[str], pythons: dict[str, str]) -> None:
        record = self.seed() if op == "download" else None
        for round_ in range(self.args.rounds):
            for client in clients:
                container, key = "download", "bench/download.bin"
                if op == "upload":
                    container, key = "upload", f"bench/{client}-{round_}.bin"
                    self.fresh_container(container)
                job = {**self.job(op, client, key, container, round_), "record": record}
                print(f"{op} {client} (round {round_ + 1}/{self.args.rounds})...", flush=True)
                result = self.child(pythons[client], client, job)
                self.check(op, client, job)
                self.versions[_family(client)] = result.pop("versions")
                self.results.setdefault((client, op), []).append(result)
                print(f"  {result['wall']:.1f} s, client CPU {result['cpu']:.2f} s, Azurite "
                      f"CPU {result['server_cpu']:.1f} s, RSS {result['rss_kib'] / 1024:.0f} "
                      "MiB", flush=True)

    def check(self, op: str, client: str, job: dict[str, Any]) -> None:
        """Every transfer must have moved exactly the source's bytes."""
        if op == "upload":
            stored = self.service.get_blob_client(job["container"], job["key"])
            size = stored.get_blob_properties().size
            if size != self.size:
                raise RuntimeError(f"{client} stored {size} bytes of {self.size}")
            return
        dest = Path(job["dest"])
        if _sha256(dest) != self.source_sha:
            raise RuntimeError(f"{client} downloaded other bytes than were uploaded")
        dest.unlink()


def _spread(values: list[float]) -> str:
    middle = statistics.median(values)
    return f"±{50 * (max(values) - min(values)) / middle:.0f}%" if middle else "-"


def _table(bench: Bench, clients: list[str]) -> list[str]:
    gib = bench.args.size_mib / 1024
    lines = ["| client | op | wall (s) | vs SDK | client CPU s/GiB | vs SDK "
             "| peak RSS (MiB) | Azurite CPU s/GiB |",
             "|---|---|---|---|---|---|---|---|"]
    for op in ("upload", "download"):
        sdk = bench.results.get(("azure-sdk", op))
        base_wall = statistics.median(r["wall"] for r in sdk) if sdk else None
        base_cpu = statistics.median(r["cpu"] for r in sdk) if sdk else None
        for client in clients:
            if op not in CLIENTS[client]:
                continue
            label = _LABELS.get((client, op), client)
            runs = bench.results.get((client, op))
            if not runs:
                lines.append(f"| {label} | {op} | could not run (not installed) "
                             "| - | - | - | - | - |")
                continue
            walls, cpus = [r["wall"] for r in runs], [r["cpu"] for r in runs]
            wall, cpu = statistics.median(walls), statistics.median(cpus)
            wall_ratio = f"{wall / base_wall:.2f}x" if base_wall else "-"
            cpu_ratio = f"{cpu / base_cpu:.2f}x" if base_cpu else "-"
            rss = max(r["rss_kib"] for r in runs) / 1024
            server = statistics.median(r["server_cpu"] for r in runs) / gib
            lines.append(
                f"| {label} | {op} | {wall:.1f} {_spread(walls)} | {wall_ratio} | "
                f"{cpu / gib:.2f} {_spread(cpus)} | {cpu_ratio} | {rss:.0f} | {server:.1f} |"
            )
    return lines


def _report(bench: Bench, clients: list[str]) -> str:
    args = bench.args
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "")
    return "\n".join([
        f"Blob of {args.size_mib} MiB, block size {args.part_mib} MiB, {args.concurrency} "
        f"requests in flight, against Azurite "
        f"{_azurite_version()} (in memory) on the same machine; {args.rounds} rounds, clients "
        "alternating; median wall and client CPU (± half the range, as % of the median), "
        "largest RSS; ratios to azure-sdk's own transfer of the same run.",
        "",
        *_table(bench, clients),
        "",
        f"Machine: {os.cpu_count()} cores ({cpu}), shared with other work (noisy).",
        "",
        "Versions: " + "; ".join(
            f"{family}: " + ", ".join(f"{k} {v}" for k, v in sorted(vs.items()))
            for family, vs in bench.versions.items()
        ) + ".",
    ])


def _azurite_version() -> str:
    package = ROOT / ".tools" / "azurite" / "node_modules" / "azurite" / "package.json"
    with contextlib.suppress(OSError, ValueError, KeyError):
        return str(json.loads(package.read_text())["version"])
    return "(unknown version)"


def _has_module(python: str, module: str) -> bool:
    return subprocess.run([python, "-c", f"import {module}"], capture_output=True,
                          check=False).returncode == 0


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--part-mib", type=int, default=16)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", default=",".join(CLIENTS),
                        help=f"comma-separated, from: {', '.join(CLIENTS)}")
    parser.add_argument("--peer-python", default=os.environ.get("AZURE_PEERS_PYTHON",
                                                               sys.executable),
                        help="the interpreter that runs adlfs and obstore")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None,
                        help="also write the table (markdown) to this file")
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
    pythons = {c: args.peer_python if _family(c) in ("adlfs", "obstore") else sys.executable
               for c in clients}
    available = []
    for client in clients:
        module = _MODULES[_family(client)]
        if _has_module(pythons[client], module):
            available.append(client)
        else:
            print(f"{client}: module {module!r} is not installed in {pythons[client]}; "
                  "it could not run (install it there to compare)")
    with tempfile.TemporaryDirectory(dir=args.workdir, prefix="azure-peers-") as tmp:
        bench = Bench(args, Path(tmp))
        try:
            for op in ("upload", "download"):
                bench.run(op, [c for c in available if op in CLIENTS[c]], pythons)
        finally:
            bench.service.close()
            bench.server.close()
    text = _report(bench, clients)
    print()
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")
        print(f"\n(written to {args.out})")


if __name__ == "__main__":
    main()
