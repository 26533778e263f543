"""The `gcs` and `azure` suites: one file up and down against fake-gcs-server and Azurite
(in memory, started as the tests start them), this library against each cloud's peers."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ._child_cloud import AZURE_KEY_ENV
from ._runner import Case, Runner, has_module, table
from ._servers import AZURE_KEY, Azurite, FakeGCS
from ._suites import JobFactory, MiB, _ours, _peer, _random_file, _sha256

# A row besides the plain ones: the job of the case in, its job factory out.
Variant = Callable[[dict[str, Any]], JobFactory]
GCS_PEERS = ["gcsfs", "obstore"]
AZURE_PEERS = ["adlfs", "obstore"]


def _sdk(job: dict[str, Any]) -> JobFactory:
    """azure-storage-blob's own transfer, run in this project's venv (the SDK the driver
    uses, at the same version)."""
    available = has_module(sys.executable, "azure.storage.blob")
    return lambda r: {**job, "client": "azure-sdk", "round": r} if available else None


def _crc32c_hex(path: Path) -> str:
    import crc32c  # noqa: PLC0415 - this project's venv only

    value = 0
    with path.open("rb") as f:
        while chunk := f.read(8 * MiB):
            value = crc32c.crc32c(chunk, value)
    return f"{value:08x}"


def _one_file(args: argparse.Namespace, work: Path, server: FakeGCS | Azurite, *,
              up_extra: list[tuple[str, Variant]], down_extra: list[tuple[str, Variant]],
              peers: list[str], put_peers: list[str],
              cannot_put: dict[str, str] | None = None) -> tuple[list[str], Runner]:
    """Upload then download one file with every client, alternating, `args.rounds` times."""
    runner = Runner(server)
    source = work / "source.bin"
    _random_file(source, args.size_mib * MiB)
    source_sha = _sha256(source)
    base = {"server": server.describe(), "part": args.part_mib * MiB,
            "concurrency": args.concurrency, "source": str(source)}
    note = (f"{args.size_mib} MiB, part {args.part_mib} MiB, {args.concurrency} in flight, "
            f"against {server.name} (in memory) on this machine")
    up = Case(f"Upload of one {args.size_mib} MiB file", note)
    up.missing.update(cannot_put or {})
    put = {**base, "op": "put_file", "key": "bench/up.bin"}
    clients = [("artifacts_async", _ours(put, work))]
    clients += [(label, make(put)) for label, make in up_extra]
    clients += [(peer, _peer(peer, put)) for peer in put_peers]

    def check_put(label: str, job: dict[str, Any]) -> None:
        size = server.size(job["key"])
        if size != args.size_mib * MiB:
            raise RuntimeError(f"{label} stored {size} bytes")

    runner.rounds(up, args.rounds, clients, check=check_put)
    server.fresh_bucket()
    runner.child({**put, "client": "artifacts_async", "key": "bench/down.bin",
                  "state": str(work / "state-seed")})
    record = {
        "name": "blob",
        "location": {"repository": "store", "driver": server.describe()["kind"],
                     "key": "bench/down.bin", "url": ""},
        "archive": {"kind": "none", "compression_level": 0},
        "gc": "never", "status": "stored", "size": args.size_mib * MiB,
        "checksum": f"crc32c:{_crc32c_hex(source)}",
    }
    down = Case(f"Download of one {args.size_mib} MiB object to a file", note)
    get = {**base, "op": "get_file", "key": "bench/down.bin", "dest": str(work / "dest.bin"),
           "record": record}
    clients = [("artifacts_async (load_inputs: parallel ranges)", _ours(get, work))]
    clients += [(label, make(get)) for label, make in down_extra]
    clients += [(peer, _peer(peer, get)) for peer in peers]

    def check_get(label: str, job: dict[str, Any]) -> None:
        dest = Path(job["dest"])
        if _sha256(dest) != source_sha:
            raise RuntimeError(f"{label} downloaded other bytes")
        dest.unlink()

    runner.rounds(down, args.rounds, clients, check=check_get)
    return [*table(up), "", *table(down)], runner


def gcs(args: argparse.Namespace, work: Path) -> tuple[list[str], Runner]:
    """fake-gcs-server: composite upload and ranged download against gcsfs and obstore
    (obstore's upload cannot run there: fake-gcs-server has no XML API writes)."""
    server = FakeGCS(work)
    try:
        return _one_file(
            args, work, server, up_extra=[], down_extra=[], peers=GCS_PEERS,
            put_peers=["gcsfs"],
            cannot_put={"obstore": "cannot run: fake-gcs-server serves no XML API writes"})
    finally:
        server.close()


def azure(args: argparse.Namespace, work: Path) -> tuple[list[str], Runner]:
    """Azurite: block upload (MD5 per block, or not) and ranged or sequential download
    against azure-storage-blob's own transfers, adlfs and obstore."""
    os.environ[AZURE_KEY_ENV] = AZURE_KEY
    server = Azurite(work)
    try:
        return _one_file(
            args, work, server,
            up_extra=[
                ("artifacts_async (content_md5=false)", lambda job: _ours(
                    {**job, "repository_options": {"content_md5": False}}, work)),
                ("azure-sdk upload_blob", _sdk),
                ("azure-sdk upload_blob (validate_content)",
                 lambda job: _sdk({**job, "validate": True})),
            ],
            down_extra=[
                ("artifacts_async (open_stream: sequential)",
                 lambda job: _ours({**job, "op": "stream_file"}, work)),
                ("azure-sdk download_blob", _sdk),
            ],
            peers=AZURE_PEERS, put_peers=AZURE_PEERS,
        )
    finally:
        server.close()
