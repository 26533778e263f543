"""One measured transfer in a fresh process: `python -m bench._child JOB_JSON` (or `-`:
the job on stdin).

Prints one JSON line: wall and CPU seconds of the transfer (user+sys of this process and
of the programs it ran, interpreter start-up and imports excluded), peak RSS, and for the
asyncio clients the largest lag of a 10 ms ticker on the event loop. Peers are imported
lazily: this module runs in this project's venv and in the peers' venv alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.metadata
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ._child_cloud import AZURE_KEY_ENV, adlfs, azure_sdk, gcsfs, obstore_cloud

Job = dict[str, Any]
MiB = 1024 * 1024


class Meter:
    """Wall and CPU time since `start()`, and the loop's worst lag (10 ms ticker)."""

    def __init__(self) -> None:
        self.wall0 = 0.0
        self.cpu0 = 0.0
        self.max_lag = 0.0
        self._ticker: asyncio.Task[None] | None = None

    @staticmethod
    def _cpu() -> float:
        own = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

    async def _tick(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            self.max_lag = max(self.max_lag, time.perf_counter() - before - 0.01)

    def start(self) -> None:
        with contextlib.suppress(RuntimeError):  # no running loop: a synchronous client
            self._ticker = asyncio.get_running_loop().create_task(self._tick())
        self.wall0, self.cpu0 = time.perf_counter(), self._cpu()

    def stop(self) -> dict[str, Any]:
        wall, cpu = time.perf_counter() - self.wall0, self._cpu() - self.cpu0
        if self._ticker is not None:
            self._ticker.cancel()
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        return {"wall": wall, "cpu": cpu, "rss_mib": max(own, kids) / 1024,
                "lag_ms": self.max_lag * 1000 if self._ticker is not None else None}


def _files(root: str) -> list[Path]:
    return sorted(p for p in Path(root).rglob("*") if p.is_file())


def _key(job: Job, path: Path) -> str:
    return f"{job['key']}/{path.relative_to(job['source']).as_posix()}"


# ------------------------------------------------------------------------ this library


def _repositories(job: Job) -> dict[str, Any]:
    server = job.get("server")
    if job.get("root"):
        return {"store": {"driver": "local", "root": job["root"]}}
    if server is None:
        return {"store": {"driver": "memory", "name": "bench"}}
    if server.get("kind") == "gcs":
        return {"store": {"driver": "gcs", "bucket": server["bucket"],
                          "endpoint": server["endpoint"], "anonymous": True,
                          **job.get("repository_options", {})}}
    if server.get("kind") == "azure":
        return {"store": {"driver": "azure", "endpoint": server["endpoint"],
                          "container": server["bucket"],
                          "credentials": {"account_key_env": AZURE_KEY_ENV},
                          **job.get("repository_options", {})}}
    repository: dict[str, Any] = {
        "driver": "s3", "bucket": server["bucket"], "endpoint": server["endpoint"],
        "region": server["region"],
        "credentials": {"access_key_env": "BENCH_ACCESS_KEY", "secret_key_env": "BENCH_SECRET_KEY"},
    }
    repository.update(job.get("repository_options", {}))
    os.environ["BENCH_ACCESS_KEY"], os.environ["BENCH_SECRET_KEY"] = (
        server["access"], server["secret"])
    return {"store": repository}


async def ours(job: Job, meter: Meter) -> dict[str, Any]:
    aa: Any = importlib.import_module("artifacts_async")
    config = aa.RepositoryConfig.from_dict({"repositories": _repositories(job)})
    kwargs: dict[str, Any] = {"state_dir": job["state"]}
    if job.get("part"):
        kwargs["part_size"] = job["part"]
    if job.get("concurrency"):
        kwargs["max_parts_in_flight"] = job["concurrency"]
        kwargs["max_artifacts_in_flight"] = job["concurrency"]
    options = aa.TransferOptions(**kwargs)
    context = aa.Context(workflow_name="bench", pod_name="p")
    op = job["op"]
    extra: dict[str, Any] = {}
    async with aa.Artifacts(config, options=options) as artifacts:
        # The peers create their client before the clock starts: so does this library.
        driver = await artifacts.driver("store")
        for name in ("_s3", "_gcs", "_client"):  # the drivers' lazy client openers
            opener = getattr(driver, name, None)
            if callable(opener):
                await opener()
                break
        if op == "get_file":
            inputs = [aa.InputArtifact(name="blob", path=job["dest"], key=job["key"],
                                       repository="store", archive=aa.Archive.none())]
            meter.start()
            await artifacts.load_inputs(inputs, context=context)
            return extra
        if op == "stream_file":  # one sequential read by record, written as it comes
            record = aa.ArtifactRecord.from_dict(job["record"])
            meter.start()
            with open(job["dest"], "wb") as f:  # noqa: ASYNC230 - as the peers' rows do
                async for chunk in artifacts.open_stream(record):
                    f.write(chunk)
            return extra
        if op == "put_file":
            outputs = [aa.OutputArtifact(name="blob", path=job["source"], key=job["key"],
                                         repository="store", archive=aa.Archive.none())]
        elif op == "put_many":
            outputs = [aa.OutputArtifact(name=f"f{i}", path=path, key=_key(job, path),
                                         repository="store", archive=aa.Archive.none())
                       for i, path in enumerate(_files(job["source"]))]
        elif op == "put_dir":  # the directory with archive none: one object per file
            outputs = [aa.OutputArtifact(name="dir", path=job["source"], key=job["key"],
                                         repository="store", archive=aa.Archive.none())]
        elif op == "put_tar":
            outputs = [aa.OutputArtifact(name="dir", path=job["source"], key=job["key"],
                                         repository="store",
                                         archive=aa.Archive.tar(compression_level=0))]
        else:  # put_list: the files named in the job (the scaling suite)
            outputs = [aa.OutputArtifact(name=f"a{i}", path=path, key=f"{job['key']}/{i}",
                                         repository="store", archive=aa.Archive.none())
                       for i, path in enumerate(job["paths"])]
            if job.get("large"):
                outputs.append(aa.OutputArtifact(
                    name="large", path=job["large"], key=f"{job['key']}/large",
                    repository="store", archive=aa.Archive.none()))
        reported: list[tuple[float, float]] = []

        def on_report(_details: object) -> None:
            reported.append((time.perf_counter(), Meter._cpu()))

        meter.start()
        result = await artifacts.save_outputs(outputs, context=context, on_report=on_report)
        result.raise_for_errors()
        extra["report_ms"] = (reported[0][0] - meter.wall0) * 1000
        # The process's CPU until then: another process's load hardly changes it.
        extra["report_cpu_ms"] = (reported[0][1] - meter.cpu0) * 1000
        extra["objects"] = len(outputs)
    return extra


# ------------------------------------------------------------------------------- peers


def _boto_kwargs(job: Job) -> dict[str, Any]:
    server = job["server"]
    return {"endpoint_url": server["endpoint"], "region_name": server["region"],
            "aws_access_key_id": server["access"], "aws_secret_access_key": server["secret"]}


async def obstore(job: Job, meter: Meter) -> dict[str, Any]:
    if job["server"].get("kind"):
        return await obstore_cloud(job, meter)
    obs: Any = importlib.import_module("obstore")
    stores: Any = importlib.import_module("obstore.store")
    server = job["server"]
    store = stores.S3Store(server["bucket"], endpoint=server["endpoint"],
                           region=server["region"], access_key_id=server["access"],
                           secret_access_key=server["secret"],
                           virtual_hosted_style_request=False,
                           client_options={"allow_http": True})
    op = job["op"]
    meter.start()
    if op == "put_file":
        await obs.put_async(store, job["key"], Path(job["source"]), chunk_size=job["part"],
                            max_concurrency=job["concurrency"])
    elif op == "get_file":
        result = await obs.get_async(store, job["key"])
        with open(job["dest"], "wb") as f:  # noqa: ASYNC230 - what a user of obstore writes
            async for chunk in result.stream(min_chunk_size=job["part"]):
                f.write(chunk)
    else:  # put_many: asyncio.gather under a semaphore
        semaphore = asyncio.Semaphore(job["concurrency"])

        async def one(path: Path) -> None:
            async with semaphore:
                await obs.put_async(store, _key(job, path), path)

        await asyncio.gather(*(one(p) for p in _files(job["source"])))
    return {}


async def aioboto3(job: Job, meter: Meter) -> dict[str, Any]:
    module: Any = importlib.import_module("aioboto3")
    transfer: Any = importlib.import_module("boto3.s3.transfer")
    bucket = job["server"]["bucket"]
    op = job["op"]
    async with module.Session().client("s3", **_boto_kwargs(job)) as s3:
        meter.start()
        if op in ("put_file", "get_file"):
            config = transfer.TransferConfig(multipart_threshold=job["part"],
                                             multipart_chunksize=job["part"],
                                             max_concurrency=job["concurrency"])
            if op == "put_file":
                await s3.upload_file(job["source"], bucket, job["key"], Config=config)
            else:
                await s3.download_file(bucket, job["key"], job["dest"], Config=config)
        else:
            semaphore = asyncio.Semaphore(job["concurrency"])

            async def one(path: Path) -> None:
                async with semaphore:
                    body = path.read_bytes()  # noqa: ASYNC240 - what a user of aioboto3 writes
                    await s3.put_object(Bucket=bucket, Key=_key(job, path), Body=body)

            await asyncio.gather(*(one(p) for p in _files(job["source"])))
    return {}


async def s3fs(job: Job, meter: Meter) -> dict[str, Any]:
    module: Any = importlib.import_module("s3fs")
    server = job["server"]
    fs = module.S3FileSystem(key=server["access"], secret=server["secret"], asynchronous=True,
                             client_kwargs={"endpoint_url": server["endpoint"],
                                            "region_name": server["region"]})
    session = await fs.set_session()
    bucket = server["bucket"]
    op = job["op"]
    meter.start()
    if op == "put_file":
        await fs._put_file(job["source"], f"{bucket}/{job['key']}", chunksize=job["part"],
                           max_concurrency=job["concurrency"])
    elif op == "get_file":
        await fs._get_file(f"{bucket}/{job['key']}", job["dest"])
    else:
        files = _files(job["source"])
        await fs._put([str(p) for p in files], [f"{bucket}/{_key(job, p)}" for p in files],
                      batch_size=job["concurrency"])
    await session.close()
    return {}


def s3transfer(job: Job, meter: Meter) -> dict[str, Any]:
    boto3: Any = importlib.import_module("boto3")
    transfer: Any = importlib.import_module("boto3.s3.transfer")
    client = boto3.client("s3", **_boto_kwargs(job))
    bucket = job["server"]["bucket"]
    op = job["op"]
    config = transfer.TransferConfig(multipart_threshold=job.get("part") or 8 * MiB,
                                     multipart_chunksize=job.get("part") or 8 * MiB,
                                     max_concurrency=job["concurrency"])
    meter.start()
    with transfer.create_transfer_manager(client, config) as manager:
        if op == "put_file":
            manager.upload(job["source"], bucket, job["key"]).result()
        elif op == "get_file":
            manager.download(bucket, job["key"], job["dest"]).result()
        else:
            futures = [manager.upload(str(p), bucket, _key(job, p))
                       for p in _files(job["source"])]
            for future in futures:
                future.result()
    return {}


def s5cmd(job: Job, meter: Meter) -> dict[str, Any]:
    server = job["server"]
    env = {**os.environ, "AWS_ACCESS_KEY_ID": server["access"],
           "AWS_SECRET_ACCESS_KEY": server["secret"], "AWS_REGION": server["region"]}
    base = [job["binary"], "--endpoint-url", server["endpoint"],
            "--numworkers", str(job["concurrency"])]
    url = f"s3://{server['bucket']}/{job['key']}"
    op = job["op"]
    if op == "put_file":
        argv = [*base, "cp", "-c", str(job["concurrency"]), "-p", str(job["part"] // MiB),
                job["source"], url]
    elif op == "get_file":
        argv = [*base, "cp", "-c", str(job["concurrency"]), "-p", str(job["part"] // MiB),
                url, job["dest"]]
    else:
        argv = [*base, "cp", f"{job['source']}/", f"{url}/"]
    meter.start()
    subprocess.run(argv, check=True, env=env, stdout=subprocess.DEVNULL)
    return {}


def cp(job: Job, meter: Meter) -> dict[str, Any]:
    meter.start()
    subprocess.run(["cp", job["source"], job["dest"]], check=True)
    return {}


# --------------------------------------------------------------------------------- main

Runner = Callable[[Job, Meter], "Awaitable[dict[str, Any]] | dict[str, Any]"]
RUNNERS: dict[str, Any] = {"artifacts_async": ours, "obstore": obstore, "aioboto3": aioboto3,
                           "s3fs": s3fs, "s3transfer": s3transfer, "s5cmd": s5cmd, "cp": cp,
                           "gcsfs": gcsfs, "azure-sdk": azure_sdk, "adlfs": adlfs}
VERSIONS = {"artifacts_async": ["artifacts-async", "artifacts-async-s3", "artifacts-async-gcs",
                                "artifacts-async-azure", "aiobotocore", "botocore",
                                "gcloud-aio-storage", "azure-storage-blob", "aiohttp"],
            "gcsfs": ["gcsfs", "fsspec", "aiohttp"], "adlfs": ["adlfs", "fsspec"],
            "azure-sdk": ["azure-storage-blob", "azure-core", "aiohttp"],
            "obstore": ["obstore"], "aioboto3": ["aioboto3", "aiobotocore", "botocore"],
            "s3fs": ["s3fs", "aiobotocore"], "s3transfer": ["boto3", "s3transfer"],
            "s5cmd": ["s5cmd"], "cp": []}


def run(job: Job) -> dict[str, Any]:
    """Run `job` and return its measurements."""
    runner = RUNNERS[job["client"]]
    meter = Meter()

    async def main() -> dict[str, Any]:
        extra = await runner(job, meter)
        return {**meter.stop(), **extra}

    if asyncio.iscoroutinefunction(runner):
        result = asyncio.run(main())
    else:
        extra = runner(job, meter)
        result = {**meter.stop(), **extra}
    versions = {}
    for name in VERSIONS[job["client"]]:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[name] = importlib.metadata.version(name)
    return {**result, "versions": versions}


if __name__ == "__main__":
    text = sys.stdin.read() if sys.argv[1] == "-" else sys.argv[1]
    print(json.dumps(run(json.loads(text))))
