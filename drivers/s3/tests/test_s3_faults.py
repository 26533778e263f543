"""S3 uploads under faults: through a TCP fault proxy to moto, and the reported URL."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import anyio.to_thread
import pytest
from botocore.exceptions import ClientError
from s3_support import s3_config

import artifacts_async as aa
from artifacts_async._journal import Journal
from artifacts_async.testing import FaultProxy, Faults

pytestmark = pytest.mark.anyio

MiB = 1024 * 1024
CONTEXT = aa.Context(workflow_name="wf", workflow_uid="uid-1", pod_name="pod-1")



def _options(**kw: Any) -> aa.TransferOptions:
    base: dict[str, Any] = {"part_size": 5 * MiB, "single_put_threshold": MiB,
                            "max_parts_in_flight": 2, "max_buffer_bytes": 16 * MiB,
                            "resume": False}
    base.update(kw)
    return aa.TransferOptions(**base)


def _stored(boto: Any, bucket: str, key: str) -> bytes | None:
    try:
        body: bytes = boto.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("NoSuchKey", "404"):
            return None
        raise
    return body


async def test_reported_url_with_a_prefix_is_where_the_object_lands(
    moto_endpoint: str, bucket: str, tmp_path: Path, boto: Any
) -> None:
    """With a `prefix`, on_report's URL is the final record's and the object's real key."""
    (tmp_path / "f.bin").write_bytes(b"payload")
    reported: list[aa.ArtifactRecord] = []
    config = s3_config(moto_endpoint, bucket, prefix="team-a")
    async with aa.Artifacts(config, options=_options()) as arts:
        result = await arts.save_outputs(
            [aa.OutputArtifact(name="f", path=tmp_path / "f.bin", archive=aa.Archive.none())],
            context=CONTEXT, on_report=lambda d: reported.extend(d.records))
    assert result.ok, result.errors
    url = f"s3://{bucket}/team-a/wf/pod-1/f.bin"
    assert [r.location.url for r in reported] == [url]
    assert [r.location.url for r in result.records] == [url]
    assert _stored(boto, bucket, "team-a/wf/pod-1/f.bin") == b"payload"


@pytest.mark.parametrize("size", [100_000, 11 * MiB])
async def test_a_stalled_request_body_is_cut_and_retried(
    moto_endpoint: str, bucket: str, tmp_path: Path, boto: Any, size: int
) -> None:
    """A connection that stops forwarding mid-request-body does not hang the upload: the
    attempt misses its deadline, is retried on a new connection and the object is stored."""
    data = random.Random(size).randbytes(size)
    (tmp_path / "f").write_bytes(data)
    faults = Faults(stall=1.0, direction="request", after_bytes=(20_000, 20_000), max_faults=1)
    # moto answers HTTP/1.0, one request per connection: the first request large enough
    # stalls in its body (two parts in flight may both stall).
    options = _options(request_timeout=2.0, min_throughput=20 * MiB)
    async with FaultProxy(moto_endpoint, faults=faults) as proxy:
        with anyio.fail_after(30):
            async with aa.Artifacts(s3_config(proxy.endpoint, bucket), options=options) as arts:
                result = await arts.save_outputs(
                    [aa.OutputArtifact(name="f", path=tmp_path / "f",
                                       archive=aa.Archive.none())], context=CONTEXT)
        assert proxy.fired["stall"] >= 1, proxy.planned
    assert result.ok, result.errors
    assert _stored(boto, bucket, "wf/pod-1/f") == data


SEEDS = range(6)


async def test_uploads_through_faults_end_identical_or_typed(
    moto_endpoint: str, bucket: str, tmp_path: Path, boto: Any
) -> None:
    """Through resets, stalls and early closes at seeded rates, every save ends within a
    bound, and each artifact is either stored byte-identical or failed with one typed
    error and nothing under its key: never wrong data, never a hang."""
    files: Mapping[str, bytes] = {
        "small": random.Random(1).randbytes(200_000),
        "large": random.Random(2).randbytes(11 * MiB),
    }
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    outputs = [aa.OutputArtifact(name=n, path=tmp_path / n, archive=aa.Archive.none())
               for n in files]
    faults = Faults(reset=0.3, stall=0.1, close=0.2, after_bytes=(0, 60_000))
    options = _options(request_timeout=1.0, min_throughput=20 * MiB)
    outcomes: list[str] = []
    fired = 0
    for seed in SEEDS:
        async with FaultProxy(moto_endpoint, seed=seed, faults=faults) as proxy:
            config = s3_config(proxy.endpoint, bucket, key_format=f"run-{seed}")
            start = time.monotonic()
            with anyio.fail_after(60):
                async with aa.Artifacts(config, options=options) as arts:
                    result = await arts.save_outputs(outputs, context=CONTEXT)
            assert time.monotonic() - start < 60
            fired += sum(proxy.fired.values())
        for record in result.records:
            stored = _stored(boto, bucket, record.location.key)
            if record.status is aa.ArtifactStatus.STORED:
                assert stored == files[record.name], (seed, record.name)
                outcomes.append("stored")
            else:
                error = result.errors[record.name]
                assert isinstance(error, aa.ArtifactError), (seed, record.name, error)
                assert stored is None, (seed, record.name)
                outcomes.append(type(error).__name__)
    assert fired > 0  # the faults happened
    assert "stored" in outcomes  # and uploads got through them


@pytest.mark.parametrize("kind", ["file", "tgz"])
async def test_cancelled_saves_leak_nothing_and_rerun(
    moto_endpoint: str, bucket: str, tmp_path: Path, boto: Any, kind: str
) -> None:
    """Saves cancelled at seeded random times end promptly, leave no task, busy
    thread or upload the journal does not know about, and a rerun succeeds."""
    source = tmp_path / "src"
    if kind == "file":
        source.write_bytes(random.Random(3).randbytes(11 * MiB))
        archive = aa.Archive.none()
    else:
        source.mkdir()
        (source / "big.bin").write_bytes(random.Random(4).randbytes(11 * MiB))
        (source / "small.txt").write_text("small\n")
        archive = aa.Archive.tar(compression_level=1)
    output = aa.OutputArtifact(name="a", path=source, archive=archive)
    options = _options(resume=True, state_dir=tmp_path / "state")
    config = s3_config(moto_endpoint, bucket)
    rng = random.Random(kind)
    cancelled = 0
    (tmp_path / "warm").write_bytes(b"w")
    warm = aa.OutputArtifact(name="warm", path=tmp_path / "warm", archive=aa.Archive.none())
    async with aa.Artifacts(config, options=options) as arts:
        # The driver's first request also builds its SDK client (a second or so on a busy
        # machine); a start request in flight is waited for, so warm the client first.
        assert (await arts.save_outputs([warm], context=CONTEXT)).ok
        for round_ in range(3):
            tasks = set(asyncio.all_tasks())
            with anyio.CancelScope() as scope:
                # The first round is cancelled early (an 11 MiB upload takes far longer than
                # 20 ms), so at least one cancellation happens whatever the machine's speed.
                latest = 0.02 if round_ == 0 else 0.4
                scope.deadline = anyio.current_time() + rng.uniform(0.0, latest)
                await arts.save_outputs([output], context=CONTEXT)
            if scope.cancelled_caught:
                cancelled += 1
                # Prompt: see CANCEL_BOUND in the core's tests/test_cancel_saves.py.
                assert anyio.current_time() - scope.deadline < 2.0
            await anyio.lowlevel.checkpoint()
            assert set(asyncio.all_tasks()) - tasks == set()
            assert anyio.to_thread.current_default_thread_limiter().borrowed_tokens == 0
            journal = Journal(tmp_path / "state" / "uploads.sqlite3")
            journaled = {upload_id for _, upload_id in await journal.targets()}
            journal.close()
            pending = boto.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
            assert {u["UploadId"] for u in pending} <= journaled
    assert cancelled
    async with aa.Artifacts(config, options=options) as arts:
        result = await arts.save_outputs([output], context=CONTEXT)
    assert result.ok, result.errors
    assert boto.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    if kind == "file":
        assert _stored(boto, bucket, "wf/pod-1/src") == source.read_bytes()
