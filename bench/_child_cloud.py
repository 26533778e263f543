"""The GCS and Azure peers of a child process (`bench/_child.py` runs them): each client's
usual way to move one file, with the same part size and concurrency where it has one.

- gcsfs: `_put_file` / `_get_file` (its async API), `token="anon"`;
- obstore: `put_async` / `get_async` streamed to a file. It reaches fake-gcs-server only
  through a service-account key carrying `gcs_base_url` and `disable_oauth`, and speaks
  GCS's XML API, which fake-gcs-server serves for reads only (its PUT answers 400): its
  GCS upload cannot run. Against Azurite it runs in emulator mode;
- azure-sdk: azure-storage-blob's `upload_blob(max_concurrency=N)` (with or without
  `validate_content`) / `download_blob(max_concurrency=N).readinto(file)`;
- adlfs: `_put_file` / `_get_file` (fsspec, on the same SDK, its default blocks).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._child import Job, Meter

AZURE_ACCOUNT = "devstoreaccount1"
AZURE_KEY_ENV = "BENCH_AZURE_KEY"


def azure_connection(job: Job) -> str:
    server = job["server"]
    return (f"DefaultEndpointsProtocol=http;AccountName={AZURE_ACCOUNT};"
            f"AccountKey={os.environ[AZURE_KEY_ENV]};BlobEndpoint={server['endpoint']};")


async def gcsfs(job: Job, meter: Meter) -> dict[str, Any]:
    # gcsfs >= 2025.10 first asks a gRPC service for the bucket's type (60 s against an
    # emulator that has none): the plain JSON API file system is what is measured.
    os.environ["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] = "false"
    module: Any = importlib.import_module("gcsfs")
    server = job["server"]
    fs = module.GCSFileSystem(endpoint_url=server["endpoint"], token="anon", asynchronous=True)
    session = await fs._set_session()
    path = f"{server['bucket']}/{job['key']}"
    meter.start()
    try:
        if job["op"] == "put_file":
            await fs._put_file(job["source"], path, chunksize=job["part"])
        else:
            await fs._get_file(path, job["dest"])
    finally:
        await session.close()
    return {}


async def obstore_cloud(job: Job, meter: Meter) -> dict[str, Any]:
    obs: Any = importlib.import_module("obstore")
    stores: Any = importlib.import_module("obstore.store")
    server = job["server"]
    if server["kind"] == "gcs":
        key = json.dumps({"gcs_base_url": server["endpoint"], "disable_oauth": True,
                          "client_email": "", "private_key": "", "private_key_id": ""})
        store = stores.GCSStore(server["bucket"], service_account_key=key,
                                client_options={"allow_http": True})
    else:  # emulator mode: path-style URLs with the account name
        os.environ["AZURITE_BLOB_STORAGE_URL"] = server["endpoint"].removesuffix(
            f"/{AZURE_ACCOUNT}")
        store = stores.AzureStore(server["bucket"], account_name=AZURE_ACCOUNT,
                                  account_key=os.environ[AZURE_KEY_ENV], use_emulator=True,
                                  client_options={"allow_http": True})
    meter.start()
    if job["op"] == "put_file":
        await obs.put_async(store, job["key"], Path(job["source"]), chunk_size=job["part"],
                            max_concurrency=job["concurrency"])
        return {}
    result = await obs.get_async(store, job["key"])
    with open(job["dest"], "wb") as f:  # noqa: ASYNC230 - what a user of obstore writes
        async for chunk in result.stream(min_chunk_size=job["part"]):
            f.write(chunk)
    return {}


async def azure_sdk(job: Job, meter: Meter) -> dict[str, Any]:
    aio: Any = importlib.import_module("azure.storage.blob.aio")
    service = aio.BlobServiceClient.from_connection_string(
        azure_connection(job), max_block_size=job["part"], max_single_put_size=job["part"],
        max_chunk_get_size=job["part"])
    async with service:
        blob = service.get_blob_client(job["server"]["bucket"], job["key"])
        meter.start()
        if job["op"] == "put_file":
            with open(job["source"], "rb") as f:  # noqa: ASYNC230 - the SDK reads it itself
                await blob.upload_blob(f, overwrite=True, max_concurrency=job["concurrency"],
                                       validate_content=bool(job.get("validate")))
            return {}
        downloader = await blob.download_blob(max_concurrency=job["concurrency"])
        with open(job["dest"], "wb") as f:  # noqa: ASYNC230 - the SDK writes it itself
            await downloader.readinto(f)
    return {}


async def adlfs(job: Job, meter: Meter) -> dict[str, Any]:
    module: Any = importlib.import_module("adlfs")
    fs = module.AzureBlobFileSystem(connection_string=azure_connection(job), asynchronous=True,
                                    max_concurrency=job["concurrency"])
    path = f"{job['server']['bucket']}/{job['key']}"
    meter.start()
    if job["op"] == "put_file":
        await fs._put_file(job["source"], path, max_concurrency=job["concurrency"])
    else:
        await fs._get_file(path, job["dest"], max_concurrency=job["concurrency"])
    with contextlib.suppress(Exception):
        await fs.service_client.close()
    return {}
