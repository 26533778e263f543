"""The `gcs` and `azure` suites: one file up and down against fake-gcs-server and Azurite
(in memory, started as the tests start them), this library against each cloud's peers."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from ._child_cloud import AZURE_KEY_ENV
from ._runner import Runner, has_module
from ._servers import AZURE_KEY, Azurite, FakeGCS
from ._suites import JobFactory, MiB, Variant, _ours, one_file

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
    """`one_file` against an emulator; the download loads the stored record (with its
    CRC32C), as `load_inputs` does."""

    def record(source: Path) -> dict[str, Any]:
        return {"record": {
            "name": "blob",
            "location": {"repository": "store", "driver": server.describe()["kind"],
                         "key": "bench/down.bin", "url": ""},
            "archive": {"kind": "none", "compression_level": 0},
            "gc": "never", "status": "stored", "size": args.size_mib * MiB,
            "checksum": f"crc32c:{_crc32c_hex(source)}",
        }}

    return one_file(
        args, work, server, where=f"against {server.name} (in memory) on this machine",
        stored_size=server.size, up_extra=up_extra, put_peers=put_peers,
        down_extra=down_extra, get_peers=peers,
        ours_get="artifacts_async (load_inputs: parallel ranges)", get_fields=record,
        cannot_put=cannot_put)


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
