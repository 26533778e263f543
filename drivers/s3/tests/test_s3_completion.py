"""What the driver checks after CompleteMultipartUpload, and when it asks HeadObject.

moto's completion answer carries the multipart ETag and no CRC32C; rclone's likewise,
and rclone hashes the whole object to answer a HeadObject (see the driver's README).
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Any

import pytest
from artifacts_async_s3 import S3Driver
from artifacts_async_s3._uploads import completion_info, multipart_etag
from s3_support import RCLONE_BUCKET, s3_config

import artifacts_async as aa
from artifacts_async.abc import UploadedPart

pytestmark = pytest.mark.anyio

MiB = 1024 * 1024
CONTEXT = aa.Context(workflow_name="wf", workflow_uid="uid-1", pod_name="pod-1")
MD5_A, MD5_B = hashlib.md5(b"a").hexdigest(), hashlib.md5(b"b").hexdigest()
PARTS = [UploadedPart(number=1, size=5 * MiB, etag=MD5_A),
         UploadedPart(number=2, size=7, etag=MD5_B)]



@pytest.fixture(params=["moto", "rclone"])
def server(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Driver settings for a bucket on moto, then on rclone (same keys, from the env)."""
    if request.param == "moto":
        return dict(request.getfixturevalue("settings"))
    return {"bucket": RCLONE_BUCKET, "endpoint": request.getfixturevalue("rclone"),
            "region": "us-east-1", "credentials": request.getfixturevalue("credentials")}


def test_completion_with_a_full_object_crc32c_needs_no_head_object() -> None:
    """S3's completion answer with a FULL_OBJECT CRC32C is enough; moto's (none) is not."""
    aws = {"ETag": '"abc-2"', "ChecksumCRC32C": "AAAAAQ==", "ChecksumType": "FULL_OBJECT"}
    info = completion_info("k", aws, PARTS)
    assert info is not None
    assert (info.size, info.checksums, info.etag) == (5 * MiB + 7, {"crc32c": "00000001"},
                                                      "abc-2")
    composite = {**aws, "ChecksumCRC32C": "AAAAAQ==-2", "ChecksumType": "COMPOSITE"}
    assert completion_info("k", composite, PARTS) is None
    assert completion_info("k", {"ETag": '"abc-2"'}, PARTS) is None


def test_completion_with_the_parts_multipart_etag_is_enough_when_the_engine_checks_it() -> None:
    """The ETag of exactly the parts sent (MD5 of their MD5s, "-2") replaces HeadObject
    when the engine checks ETags; any other ETag, or no ETag check, does not."""
    expected = hashlib.md5(bytes.fromhex(MD5_A) + bytes.fromhex(MD5_B)).hexdigest() + "-2"
    assert multipart_etag(PARTS) == expected
    answer = {"ETag": f'"{expected}"'}
    info = completion_info("k", answer, PARTS, etag_checked=True)
    assert info is not None
    assert (info.size, info.etag, dict(info.checksums)) == (5 * MiB + 7, expected, {})
    assert completion_info("k", answer, PARTS) is None
    assert completion_info("k", answer, PARTS[::-1], etag_checked=True) is None
    assert completion_info("k", {"ETag": f'"{MD5_A}-2"'}, PARTS, etag_checked=True) is None
    assert multipart_etag([*PARTS, UploadedPart(number=3, size=1, etag="x-1")]) is None


def test_trusting_the_parts_needs_nothing_more() -> None:
    """With `head_after_complete = false` (trust_parts), the answer is taken as it is."""
    info = completion_info("k", {"ETag": '"abc-2"'}, PARTS, trust_parts=True)
    assert info is not None
    assert (info.size, info.etag, dict(info.checksums)) == (5 * MiB + 7, "abc-2", {})


async def _requests_of_a_multipart_save(
    settings: dict[str, Any], tmp_path: Path, **extra: Any
) -> tuple[list[str], aa.ArtifactRecord, bytes]:
    """Save an 11 MiB file in 5 MiB parts with the driver settings `extra`; the S3
    requests sent through aiobotocore (the fast path's uploads are not among them)."""
    content = random.Random(5).randbytes(11 * MiB)
    (tmp_path / "big.bin").write_bytes(content)
    driver = S3Driver.from_settings({**settings, **extra})
    sent: list[str] = []

    def record(event_name: str = "", **_: Any) -> None:
        sent.append(event_name.rsplit(".", 1)[-1])

    client = await driver._s3()
    client.meta.events.register("before-send.s3", record)
    options = aa.TransferOptions(part_size=5 * MiB, state_dir=tmp_path / "state")
    try:
        async with aa.Artifacts(s3_config(settings["endpoint"], settings["bucket"], **extra),
                                options=options, drivers={"s3": driver}) as artifacts:
            result = await artifacts.save_outputs(
                [aa.OutputArtifact(name="big", path=tmp_path / "big.bin",
                                   archive=aa.Archive.none())], context=CONTEXT)
            result.raise_for_errors()
            sent = list(sent)  # the save's requests only
            loaded = b"".join([c async for c in artifacts.open_stream(result.records[0])])
    finally:
        await driver.aclose()
    return sent, result.records[0], loaded


async def test_completion_without_a_crc32c_is_checked_with_head_object(
    server: dict[str, Any], tmp_path: Path,
) -> None:
    """Neither moto's nor rclone's completion answer has a CRC32C, and by default the
    engine checks no ETag: one HeadObject follows (size, and moto's CRC32C)."""
    sent, record, loaded = await _requests_of_a_multipart_save(server, tmp_path)
    assert "CompleteMultipartUpload" in sent
    assert sent[sent.index("CompleteMultipartUpload") + 1] == "HeadObject"
    assert record.size == len(loaded) == 11 * MiB


async def test_completion_with_a_checked_multipart_etag_sends_no_head_object(
    server: dict[str, Any], tmp_path: Path,
) -> None:
    """With `content_md5` the engine checks the completion's multipart ETag against the
    MD5s of the parts it sent: no HeadObject follows CompleteMultipartUpload."""
    sent, record, loaded = await _requests_of_a_multipart_save(server, tmp_path,
                                                               content_md5=True)
    # The answer's ETag was the one of the parts sent (else a HeadObject would follow).
    assert "CompleteMultipartUpload" in sent
    assert "HeadObject" not in sent[sent.index("CompleteMultipartUpload"):]
    assert record.size == len(loaded) == 11 * MiB


async def test_head_after_complete_false_sends_no_head_object(
    server: dict[str, Any], tmp_path: Path,
) -> None:
    """The opt-in `head_after_complete = false` takes the object to be the parts sent."""
    sent, record, loaded = await _requests_of_a_multipart_save(server, tmp_path,
                                                               head_after_complete=False)
    assert "CompleteMultipartUpload" in sent
    assert "HeadObject" not in sent[sent.index("CompleteMultipartUpload"):]
    assert record.size == len(loaded) == 11 * MiB
    assert record.checksum is not None  # the engine's own CRC32C, as always
