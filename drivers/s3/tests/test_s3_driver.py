"""The S3 driver's operations against a real S3 API (moto server)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from contextlib import aclosing
from datetime import timedelta
from typing import Any

import crc32c
import pytest
from artifacts_async_s3 import S3Driver, _driver

import artifacts_async as aa
from artifacts_async._reads import resilient_read
from artifacts_async.abc import PartChecksums, UploadedPart

pytestmark = pytest.mark.anyio

MiB = 1024 * 1024
MakeDriver = Callable[..., S3Driver]


def _checks(data: bytes) -> PartChecksums:
    return PartChecksums(
        md5=hashlib.md5(data).digest(), crc32c=crc32c.crc32c(data).to_bytes(4, "big")
    )


def _crc(data: bytes) -> str:
    return f"{crc32c.crc32c(data):08x}"


async def _read(driver: S3Driver, key: str, offset: int = 0, length: int | None = None) -> bytes:
    return b"".join([c async for c in driver.read(key, offset=offset, length=length)])


async def _multipart(driver: S3Driver, key: str, *pieces: bytes) -> list[UploadedPart]:
    upload_id = await driver.start_upload(key, metadata={"artifact": "m"})
    parts, offset = [], 0
    for number, piece in enumerate(pieces, 1):
        parts.append(await driver.upload_part(
            key, upload_id, number, piece, offset=offset, checksums=_checks(piece)
        ))
        offset += len(piece)
    await driver.complete_upload(key, upload_id, parts)
    return parts


async def test_put_then_stat_and_read(driver: S3Driver, boto: Any, bucket: str) -> None:
    """A put reports S3's MD5 ETag and CRC32C; stat and read give back the same object."""
    data = b"hello, artifacts\n" * 100
    info = await driver.put("dir/obj.txt", data, checksums=_checks(data),
                            metadata={"artifact": "greeting"})
    assert info.size == len(data)
    assert info.etag == hashlib.md5(data).hexdigest()
    assert info.checksums == {"crc32c": _crc(data)}
    stat = await driver.stat("dir/obj.txt")
    assert (stat.size, stat.etag, dict(stat.checksums)) == (len(data), info.etag, info.checksums)
    assert stat.metadata == {"artifact": "greeting"}
    assert stat.modified is not None
    assert await _read(driver, "dir/obj.txt") == data
    head = boto.head_object(Bucket=bucket, Key="dir/obj.txt", ChecksumMode="ENABLED")
    assert base64.b64decode(head["ChecksumCRC32C"]).hex() == _crc(data)


async def test_put_sends_the_checksums_it_was_given(
    driver: S3Driver, boto: Any, bucket: str
) -> None:
    """The CRC32C S3 records is the one in PartChecksums, not one botocore computed."""
    data = b"payload"
    claimed = (0x12345678).to_bytes(4, "big")  # moto stores what it is told
    await driver.put("k", data, checksums=PartChecksums(crc32c=claimed), metadata={})
    head = boto.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32C"] == base64.b64encode(claimed).decode()


async def test_buffers_may_be_reused_after_the_call(driver: S3Driver) -> None:
    """What was sent is what the buffer held during the call, not after (engine reuse)."""
    buffer = bytearray(b"A" * (2 * MiB))
    await driver.put("single", buffer, checksums=_checks(bytes(buffer)), metadata={})
    upload_id = await driver.start_upload("multi", metadata={})
    part = await driver.upload_part("multi", upload_id, 1, buffer, offset=0,
                                    checksums=_checks(bytes(buffer)))
    buffer[:] = b"B" * len(buffer)
    await driver.complete_upload("multi", upload_id, [part])
    assert await _read(driver, "single") == b"A" * (2 * MiB)
    assert await _read(driver, "multi") == b"A" * (2 * MiB)


DATA = bytes(range(256)) * 4  # 1024 bytes


@pytest.mark.parametrize(
    ("offset", "length", "expected"),
    [
        (0, None, DATA),
        (10, None, DATA[10:]),
        (10, 20, DATA[10:30]),
        (1000, 100, DATA[1000:]),
        (-10, None, DATA[-10:]),
        (-10, 4, DATA[-10:-6]),
        (-5000, None, DATA),
        (-5000, 10, DATA[:10]),
        (1023, None, DATA[1023:]),
        (1024, None, b""),
        (5000, 10, b""),
        (0, 0, b""),
    ],
)
async def test_ranged_reads(
    driver: S3Driver, offset: int, length: int | None, expected: bytes
) -> None:
    """Ranges, suffixes and offsets past the end read what the protocol promises."""
    await driver.put("ranged", DATA, checksums=_checks(DATA), metadata={})
    assert await _read(driver, "ranged", offset, length) == expected


async def test_empty_object(driver: S3Driver) -> None:
    """An empty object stats as 0 bytes and reads as nothing, whole or ranged."""
    await driver.put("empty", b"", checksums=_checks(b""), metadata={})
    assert (await driver.stat("empty")).size == 0
    assert await _read(driver, "empty") == b""
    assert await _read(driver, "empty", -5) == b""
    assert await _read(driver, "empty", 3, 2) == b""


async def test_reads_yield_the_pieces_received(driver: S3Driver) -> None:
    """The driver hands on aiohttp's pieces unjoined (asyncio receives at most 256 KiB at a
    time; the core batches them), and the core's stream has all the bytes."""
    data = hashlib.sha256(b"x").digest() * (7 * MiB // 64)
    await driver.put("big", data, checksums=_checks(data), metadata={})
    pieces = [c async for c in driver.read("big")]
    assert b"".join(pieces) == data
    assert max(len(p) for p in pieces) <= 256 * 1024
    assert len(pieces) >= 14
    chunks = [c async for c in resilient_read(driver, "big", offset=0, length=None,
                                              options=aa.TransferOptions())]
    assert b"".join(chunks) == data


async def test_abandoned_read_leaves_the_driver_usable(driver: S3Driver) -> None:
    """Stopping a stream after one chunk closes it; later requests still work."""
    data = b"z" * (3 * MiB)
    await driver.put("big", data, checksums=_checks(data), metadata={})
    async with aclosing(driver.read("big")) as stream:
        async for _ in stream:
            break
    assert await _read(driver, "big", 5, 5) == b"zzzzz"


async def test_missing_objects(driver: S3Driver) -> None:
    """stat and read of an absent key raise ArtifactNotFoundError (a FileNotFoundError)."""
    with pytest.raises(aa.ArtifactNotFoundError, match=r"s3://.*/nope"):
        await driver.stat("nope")
    with pytest.raises(FileNotFoundError):
        await _read(driver, "nope")
    with pytest.raises(aa.ArtifactNotFoundError):
        await _read(driver, "nope", 0, 0)


async def test_multipart_upload(driver: S3Driver, monkeypatch: pytest.MonkeyPatch) -> None:
    """Parts carry MD5 and CRC32C; completion reports the S3 ETag and whole-object CRC32C."""
    monkeypatch.setattr(_driver, "_PAGE_SIZE", 1)  # list_parts must follow the pages
    first, second = b"a" * (5 * MiB), b"tail bytes"
    upload_id = await driver.start_upload("mp/obj", metadata={"artifact": "mp"})
    assert [u.upload_id for u in await driver.list_uploads("mp/")] == [upload_id]
    p2 = await driver.upload_part("mp/obj", upload_id, 2, second, offset=len(first),
                                  checksums=_checks(second))
    p1 = await driver.upload_part("mp/obj", upload_id, 1, first, offset=0,
                                  checksums=_checks(first))
    assert p1.etag == hashlib.md5(first).hexdigest()
    assert p1.checksums == {"crc32c": _crc(first), "md5": p1.etag}
    held = await driver.list_parts("mp/obj", upload_id)
    assert [(p.number, p.size, p.etag) for p in held] == [
        (1, len(first), p1.etag), (2, len(second), p2.etag)
    ]
    info = await driver.complete_upload("mp/obj", upload_id, [p1, p2])
    digests = hashlib.md5(bytes.fromhex(p1.etag or "") + bytes.fromhex(p2.etag or ""))
    assert info.etag == f"{digests.hexdigest()}-2"
    assert info.size == len(first) + len(second)
    assert info.checksums == {"crc32c": _crc(first + second)}
    assert info.metadata == {"artifact": "mp"}
    assert await driver.list_uploads("mp/") == []
    assert await _read(driver, "mp/obj", -10) == second


async def test_resending_a_part_replaces_it(driver: S3Driver) -> None:
    """Sending a part number again replaces the part S3 holds."""
    upload_id = await driver.start_upload("k", metadata={})
    await driver.upload_part("k", upload_id, 1, b"old", offset=0, checksums=_checks(b"old"))
    new = await driver.upload_part("k", upload_id, 1, b"new!", offset=0,
                                   checksums=_checks(b"new!"))
    held = await driver.list_parts("k", upload_id)
    assert [(p.size, p.etag) for p in held] == [(4, new.etag)]
    await driver.complete_upload("k", upload_id, [new])
    assert await _read(driver, "k") == b"new!"


async def test_parts_without_checksums_get_a_crc32c(driver: S3Driver) -> None:
    """A caller that gives no checksums still gets parts that complete (CRC32C computed)."""
    upload_id = await driver.start_upload("k", metadata={})
    part = await driver.upload_part("k", upload_id, 1, b"data", offset=0,
                                    checksums=PartChecksums())
    assert part.checksums["crc32c"] == _crc(b"data")
    info = await driver.complete_upload("k", upload_id, [part])
    assert info.checksums == {"crc32c": _crc(b"data")}


async def test_composite_checksums_are_not_reported_as_crc32c(
    make_driver: MakeDriver, boto: Any, bucket: str
) -> None:
    """With composite checksums the object has no whole CRC32C, so none is reported."""
    driver = make_driver(checksum="crc32c-composite")
    await _multipart(driver, "k", b"a" * (5 * MiB), b"b")
    # AWS answers `<crc>-2`; moto answers the bare composite value, without a type.
    head = boto.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    composite = base64.b64decode(head["ChecksumCRC32C"].split("-")[0]).hex()
    assert composite != _crc(b"a" * (5 * MiB) + b"b")
    info = await driver.stat("k")
    assert info.checksums == {}
    assert info.etag is not None
    assert info.etag.endswith("-2")


async def test_md5_mode_sends_no_crc32c(make_driver: MakeDriver, boto: Any, bucket: str) -> None:
    """checksum = md5 sends Content-MD5 only: S3 keeps no CRC32C."""
    driver = make_driver(checksum="md5")
    await driver.put("k", b"data", checksums=_checks(b"data"), metadata={})
    await _multipart(driver, "m", b"a" * (5 * MiB), b"b")
    for key in ("k", "m"):
        head = boto.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
        assert "ChecksumCRC32C" not in head
        assert (await driver.stat(key)).checksums == {}


async def test_completing_an_unknown_upload(driver: S3Driver) -> None:
    """Completing an upload S3 does not hold is an error, not a silent success."""
    with pytest.raises(aa.ArtifactError):
        await driver.complete_upload(
            "k", "no-such-upload", [UploadedPart(number=1, size=1, etag="0" * 32)]
        )


async def test_abort_upload(driver: S3Driver) -> None:
    """Aborting discards the parts; aborting again, or an unknown upload, is no error."""
    upload_id = await driver.start_upload("k", metadata={})
    await driver.upload_part("k", upload_id, 1, b"x", offset=0, checksums=_checks(b"x"))
    await driver.abort_upload("k", upload_id)
    await driver.abort_upload("k", upload_id)
    await driver.abort_upload("k", "never-existed")
    with pytest.raises(aa.ArtifactNotFoundError):
        await driver.list_parts("k", upload_id)
    assert await driver.list_uploads("") == []


async def test_core_sweep_aborts_stale_uploads(
    driver: S3Driver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The core's orphan sweep aborts S3 uploads under the prefix older than the age."""
    monkeypatch.setattr(_driver, "_PAGE_SIZE", 1)
    stale = {await driver.start_upload(f"tmp/{n}", metadata={}) for n in range(3)}
    other = await driver.start_upload("keep/x", metadata={})
    uploads = await driver.list_uploads("tmp/")
    assert {u.upload_id for u in uploads} == stale
    started = min(u.started for u in uploads if u.started is not None)
    # moto reports a fixed, old start time for every upload: measure ages from it.
    young = await aa.sweep_orphans(driver, prefix="tmp/", older_than=timedelta(days=1),
                                   now=started + timedelta(hours=1))
    assert young == []
    aborted = await aa.sweep_orphans(driver, prefix="tmp/", older_than=timedelta(days=1),
                                     now=started + timedelta(days=2))
    assert {u.upload_id for u in aborted} == stale
    assert {u.key for u in aborted} == {"tmp/0", "tmp/1", "tmp/2"}
    assert [u.upload_id for u in await driver.list_uploads("")] == [other]
    assert not hasattr(driver, "abort_stale_uploads")


async def test_list_follows_pages_in_key_order(
    driver: S3Driver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """list(prefix) yields every object under the prefix, across pages, sorted by key."""
    monkeypatch.setattr(_driver, "_PAGE_SIZE", 2)
    keys = ["a/3", "a/1", "a/2", "a/sub/4", "b/5"]
    for key in keys:
        await driver.put(key, key.encode(), checksums=_checks(key.encode()), metadata={})
    listed = [info async for info in driver.list("a/")]
    assert [i.key for i in listed] == ["a/1", "a/2", "a/3", "a/sub/4"]
    assert [i.size for i in listed] == [3, 3, 3, 7]
    assert listed[0].etag == hashlib.md5(b"a/1").hexdigest()
    assert [i.key async for i in driver.list("")] == sorted(keys)


async def test_prefix_setting_is_invisible_to_callers(
    make_driver: MakeDriver, boto: Any, bucket: str
) -> None:
    """With a prefix, objects live under it, and keys come back without it."""
    driver = make_driver(prefix="team-a")
    await driver.put("x/obj", b"1", checksums=_checks(b"1"), metadata={})
    upload_id = await driver.start_upload("x/big", metadata={})
    assert [o["Key"] for o in boto.list_objects_v2(Bucket=bucket)["Contents"]] == ["team-a/x/obj"]
    assert [i.key async for i in driver.list("x/")] == ["x/obj"]
    assert [(u.key, u.upload_id) for u in await driver.list_uploads("x/")] == [("x/big", upload_id)]
    assert driver.describe("x/obj") == f"s3://{bucket}/team-a/x/obj"
    outcomes = await driver.delete(["x/obj"])
    assert [(o.key, o.error) for o in outcomes] == [("x/obj", None)]
    assert boto.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    await driver.abort_upload("x/big", upload_id)


async def test_delete_reports_each_key(driver: S3Driver, boto: Any, bucket: str) -> None:
    """Present and absent keys are both deleted; S3 cannot tell which existed."""
    for key in ("d/1", "d/2"):
        await driver.put(key, b"x", checksums=_checks(b"x"), metadata={})
    outcomes = await driver.delete(["d/1", "d/absent", "d/2"])
    assert [(o.key, o.existed, o.error) for o in outcomes] == [
        ("d/1", None, None), ("d/absent", None, None), ("d/2", None, None)
    ]
    assert boto.list_objects_v2(Bucket=bucket).get("KeyCount") == 0


async def test_delete_batch_limit(driver: S3Driver) -> None:
    """1000 keys (the core's batch for S3) go in one request."""
    await driver.put("keep", b"x", checksums=_checks(b"x"), metadata={})
    outcomes = await driver.delete([f"gone/{n}" for n in range(1000)])
    assert len(outcomes) == 1000
    assert all(o.error is None for o in outcomes)
    assert (await driver.stat("keep")).size == 1


async def test_keys_with_spaces_unicode_and_url_characters(driver: S3Driver) -> None:
    """Keys that need URL encoding round-trip through put, stat, read, list and delete."""
    keys = ["a b/c d.txt", "ünï/cødé ✓.bin", "x+y=z&q?.txt", "percent%20sign", "semi;colon#"]
    for key in keys:
        await driver.put(key, key.encode(), checksums=_checks(key.encode()), metadata={})
        assert (await driver.stat(key)).size == len(key.encode())
        assert await _read(driver, key) == key.encode()
    assert [i.key async for i in driver.list("")] == sorted(keys)
    upload_id = await driver.start_upload("ünï/big ✓", metadata={})
    assert [(u.key, u.upload_id) for u in await driver.list_uploads("ünï/")] == [
        ("ünï/big ✓", upload_id)
    ]
    await driver.abort_upload("ünï/big ✓", upload_id)
    outcomes = await driver.delete(keys)
    assert [(o.key, o.error) for o in outcomes] == [(k, None) for k in keys]
    assert [i.key async for i in driver.list("")] == []


async def test_metadata_beyond_ascii(driver: S3Driver, boto: Any, bucket: str) -> None:
    """Non-ASCII metadata values (an artifact called 'modèle') are stored encoded, read back."""
    metadata = {"artifact": "modèle ✓", "archive": "none", "tricky": "=?UTF-8?B?eA==?="}
    await driver.put("k", b"x", checksums=_checks(b"x"), metadata=metadata)
    upload_id = await driver.start_upload("m", metadata=metadata)
    part = await driver.upload_part("m", upload_id, 1, b"y", offset=0, checksums=_checks(b"y"))
    await driver.complete_upload("m", upload_id, [part])
    for key in ("k", "m"):
        assert (await driver.stat(key)).metadata == metadata
    raw = boto.head_object(Bucket=bucket, Key="k")["Metadata"]
    assert raw["archive"] == "none"
    assert raw["artifact"].isascii()
    with pytest.raises(aa.ConfigurationError, match="metadata name"):
        await driver.put("k", b"x", checksums=_checks(b"x"), metadata={"n\u00e4me": "v"})
