"""The Azure driver's operations against a real Azure Blob API (Azurite)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from contextlib import aclosing
from datetime import UTC, datetime, timedelta

import crc32c
import pytest
from artifacts_async_azure import AzureDriver
from azure.storage.blob import ContainerClient
from azure_support import MiB, md5_checks

import artifacts_async as aa
from artifacts_async.abc import PartChecksums, UploadedPart

pytestmark = pytest.mark.anyio

MakeDriver = Callable[..., AzureDriver]


def _crc(data: bytes) -> str:
    return f"{crc32c.crc32c(data):08x}"


async def _read(driver: AzureDriver, key: str, offset: int = 0,
                length: int | None = None) -> bytes:
    return b"".join([c async for c in driver.read(key, offset=offset, length=length)])


async def _multipart(driver: AzureDriver, key: str, *pieces: bytes,
                     metadata: dict[str, str] | None = None) -> list[UploadedPart]:
    """Upload `pieces` as blocks and commit them, with the CRC32Cs the engine would add."""
    upload_id = await driver.start_upload(key, metadata=metadata or {})
    parts, offset = [], 0
    for number, piece in enumerate(pieces, 1):
        part = await driver.upload_part(key, upload_id, number, piece, offset=offset,
                                        checksums=md5_checks(piece))
        parts.append(UploadedPart(number=part.number, size=part.size,
                                  checksums={**part.checksums, "crc32c": _crc(piece)}))
        offset += len(piece)
    await driver.complete_upload(key, upload_id, parts)
    return parts


@pytest.mark.parametrize("size", [100, 3 * MiB], ids=["put-blob", "block-and-commit"])
async def test_put_then_stat_and_read(driver: AzureDriver, blobs: ContainerClient,
                                      size: int) -> None:
    """A put keeps its MD5 (verified by the service) and CRC32C; stat and read agree."""
    data = (b"hello, artifacts\n" * (size // 17 + 1))[:size]
    info = await driver.put("dir/obj.txt", data, checksums=md5_checks(data),
                            metadata={"artifact": "greeting"})
    assert info.size == len(data)
    assert info.checksums == {"crc32c": _crc(data), "md5": hashlib.md5(data).hexdigest()}
    stat = await driver.stat("dir/obj.txt")
    assert (stat.size, stat.etag, dict(stat.checksums)) == (size, info.etag, info.checksums)
    assert stat.metadata == {"artifact": "greeting"}
    assert stat.modified is not None
    assert await _read(driver, "dir/obj.txt") == data
    props = blobs.get_blob_client("dir/obj.txt").get_blob_properties()
    assert bytes(props.content_settings.content_md5 or b"") == hashlib.md5(data).digest()
    assert props.metadata["artifacts_async_crc32c"] == _crc(data)


@pytest.mark.parametrize("size", [100, 3 * MiB], ids=["put-blob", "block-and-commit"])
async def test_put_with_a_wrong_md5_stores_nothing(driver: AzureDriver, size: int) -> None:
    """Both put paths send the MD5 they were given, and the service refuses a mismatch."""
    data = b"x" * size
    with pytest.raises(aa.IntegrityError, match="Md5Mismatch"):
        await driver.put("k", data, checksums=md5_checks(b"other"), metadata={})
    with pytest.raises(aa.ArtifactNotFoundError):
        await driver.stat("k")


async def test_buffers_may_be_reused_after_the_call(driver: AzureDriver) -> None:
    """What was sent is what the buffer held during the call, not after (engine reuse)."""
    buffer = bytearray(b"A" * (2 * MiB))
    await driver.put("single", buffer, checksums=md5_checks(bytes(buffer)), metadata={})
    upload_id = await driver.start_upload("multi", metadata={})
    part = await driver.upload_part("multi", upload_id, 1, buffer, offset=0,
                                    checksums=md5_checks(bytes(buffer)))
    buffer[:] = b"B" * len(buffer)
    await driver.complete_upload("multi", upload_id, [part])
    assert await _read(driver, "single") == b"A" * (2 * MiB)
    assert await _read(driver, "multi") == b"A" * (2 * MiB)


async def test_reads_stream_in_chunks(driver: AzureDriver) -> None:
    """A 9 MiB object streamed arrives in chunks (GETs) of at most 4 MiB: memory per read
    stays bounded; a read of a known length up to 16 MiB (a range of a parallel download,
    whose bytes the engine holds anyway) is one GET."""
    data = hashlib.sha256(b"x").digest() * (9 * MiB // 32)
    await driver.put("big", data, checksums=md5_checks(data), metadata={})
    chunks = [c async for c in driver.read("big")]
    assert b"".join(chunks) == data
    assert [len(c) for c in chunks] == [4 * MiB, 4 * MiB, MiB]
    ranged = [c async for c in driver.read("big", offset=MiB, length=5 * MiB)]
    assert b"".join(ranged) == data[MiB : 6 * MiB]
    assert [len(c) for c in ranged] == [5 * MiB]
    whole = [c async for c in driver.read("big", length=9 * MiB)]
    assert [len(c) for c in whole] == [9 * MiB]


async def test_abandoned_read_leaves_the_driver_usable(driver: AzureDriver) -> None:
    """Stopping a stream after one chunk closes it; later requests still work."""
    data = b"z" * (9 * MiB)
    await driver.put("big", data, checksums=md5_checks(data), metadata={})
    async with aclosing(driver.read("big")) as stream:
        async for _ in stream:
            break
    assert await _read(driver, "big", 5, 5) == b"zzzzz"


async def test_empty_object_reads(driver: AzureDriver) -> None:
    """An empty object reads as nothing, whole, as a suffix or past its end."""
    await driver.put("empty", b"", checksums=md5_checks(b""), metadata={})
    assert await _read(driver, "empty") == b""
    assert await _read(driver, "empty", -5) == b""
    assert await _read(driver, "empty", 3, 2) == b""
    with pytest.raises(aa.ArtifactNotFoundError):
        await _read(driver, "absent", 0, 0)


async def test_multipart_upload_reports_the_whole_crc32c(
    driver: AzureDriver, blobs: ContainerClient
) -> None:
    """Blocks commit in part order with the start's metadata and the whole CRC32C."""
    first, second = b"a" * (2 * MiB), b"tail bytes"
    upload_id = await driver.start_upload("mp/obj", metadata={"artifact": "mp"})
    p2 = await driver.upload_part("mp/obj", upload_id, 2, second, offset=len(first),
                                  checksums=md5_checks(second))
    p1 = await driver.upload_part("mp/obj", upload_id, 1, first, offset=0,
                                  checksums=md5_checks(first))
    assert p1.checksums == {"md5": hashlib.md5(first).hexdigest()}
    held = await driver.list_parts("mp/obj", upload_id)
    assert [(p.number, p.size) for p in held] == [(1, len(first)), (2, len(second))]
    # Listed by its token: the metadata part of the id is not stored on the service.
    assert [u.upload_id for u in await driver.list_uploads("mp/")] == [upload_id.split(".")[0]]
    parts = [UploadedPart(number=p.number, size=p.size, checksums={"crc32c": _crc(d)})
             for p, d in ((p1, first), (p2, second))]
    info = await driver.complete_upload("mp/obj", upload_id, parts)
    assert info.size == len(first) + len(second)
    assert info.checksums == {"crc32c": _crc(first + second)}
    assert info.metadata == {"artifact": "mp"}
    assert await driver.list_uploads("mp/") == []
    assert await _read(driver, "mp/obj", -10) == second
    committed, uncommitted = blobs.get_blob_client("mp/obj").get_block_list("all")
    assert [b.size for b in committed] == [len(first), len(second)]
    assert uncommitted == []
    assert len({len(b.id) for b in committed}) == 1  # the service requires equal lengths


async def test_completing_twice_or_unknown_is_not_found(driver: AzureDriver) -> None:
    """Committing blocks the service no longer holds raises ArtifactNotFoundError."""
    parts = await _multipart(driver, "k", b"data")
    upload_id = await driver.start_upload("k", metadata={})
    with pytest.raises(aa.ArtifactNotFoundError, match="does not hold the blocks"):
        await driver.complete_upload("k", upload_id, parts)
    with pytest.raises(aa.ArtifactNotFoundError):
        await driver.complete_upload("k", "no-such-upload", parts)
    with pytest.raises(aa.ArtifactNotFoundError):
        await driver.list_parts("k", "no-such-upload")
    assert await _read(driver, "k") == b"data"


async def test_resending_a_block_replaces_it(driver: AzureDriver) -> None:
    """Staging a part number again replaces the block the service holds."""
    upload_id = await driver.start_upload("k", metadata={})
    await driver.upload_part("k", upload_id, 1, b"old", offset=0, checksums=md5_checks(b"old"))
    new = await driver.upload_part("k", upload_id, 1, b"new!", offset=0,
                                   checksums=md5_checks(b"new!"))
    assert [(p.number, p.size) for p in await driver.list_parts("k", upload_id)] == [(1, 4)]
    await driver.complete_upload("k", upload_id, [new])
    assert await _read(driver, "k") == b"new!"


async def test_uploads_under_one_key_are_kept_apart(driver: AzureDriver) -> None:
    """Two uploads of one key list only their own blocks; a commit discards the other's."""
    one = await driver.start_upload("k", metadata={})
    two = await driver.start_upload("k", metadata={})
    await driver.upload_part("k", one, 1, b"one", offset=0, checksums=md5_checks(b"one"))
    await driver.upload_part("k", two, 1, b"two!", offset=0, checksums=md5_checks(b"two!"))
    await driver.upload_part("k", two, 2, b"2", offset=4, checksums=md5_checks(b"2"))
    assert [p.size for p in await driver.list_parts("k", one)] == [3]
    assert [p.size for p in await driver.list_parts("k", two)] == [4, 1]
    assert {u.upload_id for u in await driver.list_uploads("")} == {one, two}
    await driver.complete_upload("k", two, await driver.list_parts("k", two))
    assert await _read(driver, "k") == b"two!2"
    with pytest.raises(aa.ArtifactNotFoundError):
        await driver.list_parts("k", one)
    assert await driver.list_uploads("") == []


async def test_abort_never_touches_a_committed_blob(
    driver: AzureDriver, blobs: ContainerClient
) -> None:
    """Commit v1, stage v2, abort v2: v1 is intact and v2 is neither listed nor resumable."""
    await _multipart(driver, "k", b"version one", metadata={"v": "1"})
    before = blobs.get_blob_client("k").get_blob_properties()
    v2 = await driver.start_upload("k", metadata={"v": "2"})
    await driver.upload_part("k", v2, 1, b"version two", offset=0,
                             checksums=md5_checks(b"version two"))
    assert [u.upload_id for u in await driver.list_uploads("")] == [v2.split(".")[0]]
    await driver.abort_upload("k", v2)
    await driver.abort_upload("k", v2)  # twice: nothing more is sent
    after = blobs.get_blob_client("k").get_blob_properties()
    assert (after.etag, after.last_modified, after.metadata, after.size) == \
        (before.etag, before.last_modified, before.metadata, before.size)
    assert await _read(driver, "k") == b"version one"
    assert (await driver.stat("k")).metadata == {"v": "1"}
    with pytest.raises(aa.ArtifactNotFoundError):
        await driver.list_parts("k", v2)
    assert await driver.list_uploads("") == []
    # The blocks stay until the next commit of the key discards them (or the service's
    # own clean-up): that is the only way to drop them without touching v1.
    _, uncommitted = blobs.get_blob_client("k").get_block_list("uncommitted")
    assert len(uncommitted) == 2
    await _multipart(driver, "k", b"version three")
    assert blobs.get_blob_client("k").get_block_list("uncommitted")[1] == []


async def test_sweep_aborts_stale_uploads_only(driver: AzureDriver,
                                               blobs: ContainerClient) -> None:
    """The orphan sweep aborts old uploads only and leaves committed blobs untouched."""
    await _multipart(driver, "tmp/committed", b"v1")
    before = blobs.get_blob_client("tmp/committed").get_blob_properties()
    stale = {}
    for key in ("tmp/committed", "tmp/new"):
        upload_id = await driver.start_upload(key, metadata={})
        await driver.upload_part(key, upload_id, 1, b"x", offset=0, checksums=md5_checks(b"x"))
        stale[key] = upload_id
    outside = await driver.start_upload("keep/x", metadata={})
    await driver.upload_part("keep/x", outside, 1, b"x", offset=0, checksums=md5_checks(b"x"))
    uploads = await driver.list_uploads("tmp/")
    assert {(u.key, u.upload_id) for u in uploads} == set(stale.items())
    started = [u.started for u in uploads]
    assert all(s is not None and abs(s - datetime.now(UTC)) < timedelta(minutes=5)
               for s in started)
    later = datetime.now(UTC) + timedelta(days=2)
    assert await aa.sweep_orphans(driver, prefix="tmp/", older_than=timedelta(days=3),
                                  now=later) == []
    swept = await aa.sweep_orphans(driver, prefix="tmp/", older_than=timedelta(days=1),
                                   now=later)
    assert {u.key for u in swept} == set(stale)
    assert await driver.list_uploads("tmp/") == []
    assert [u.key for u in await driver.list_uploads("")] == ["keep/x"]
    after = blobs.get_blob_client("tmp/committed").get_blob_properties()
    assert (after.etag, after.last_modified) == (before.etag, before.last_modified)
    assert await _read(driver, "tmp/committed") == b"v1"


async def test_list_is_in_key_order_and_skips_uncommitted(driver: AzureDriver) -> None:
    """list(prefix) yields committed blobs under the prefix in key order, not staged blocks."""
    keys = ["a/3", "a/1", "a/2", "a/sub/4", "b/5"]
    for key in keys:
        await driver.put(key, key.encode(), checksums=md5_checks(key.encode()), metadata={})
    pending = await driver.start_upload("a/0-pending", metadata={})
    await driver.upload_part("a/0-pending", pending, 1, b"x", offset=0,
                             checksums=md5_checks(b"x"))
    listed = [info async for info in driver.list("a/")]
    assert [i.key for i in listed] == ["a/1", "a/2", "a/3", "a/sub/4"]
    assert [i.size for i in listed] == [3, 3, 3, 7]
    assert listed[0].checksums == {"md5": hashlib.md5(b"a/1").hexdigest()}
    assert [i.key async for i in driver.list("")] == sorted(keys)


async def test_prefix_setting_is_invisible_to_callers(
    make_driver: MakeDriver, blobs: ContainerClient, container: str
) -> None:
    """With a prefix, blobs live under it, and keys come back without it."""
    driver = make_driver(prefix="team-a")
    await driver.put("x/obj", b"1", checksums=md5_checks(b"1"), metadata={})
    upload_id = await driver.start_upload("x/big", metadata={})
    await driver.upload_part("x/big", upload_id, 1, b"x", offset=0, checksums=md5_checks(b"x"))
    assert [b.name for b in blobs.list_blobs()] == ["team-a/x/obj"]
    assert [i.key async for i in driver.list("x/")] == ["x/obj"]
    assert [(u.key, u.upload_id) for u in await driver.list_uploads("x/")] == \
        [("x/big", upload_id)]
    assert driver.describe("x/obj") == f"azure://{container}/team-a/x/obj"
    outcomes = await driver.delete(["x/obj"])
    assert [(o.key, o.existed, o.error) for o in outcomes] == [("x/obj", True, None)]
    assert [b.name for b in blobs.list_blobs()] == []


async def test_delete_reports_whether_each_key_existed(
    driver: AzureDriver, blobs: ContainerClient
) -> None:
    """One batch request; each key is reported as deleted (existed) or already absent."""
    for key in ("d/1", "d/2"):
        await driver.put(key, b"x", checksums=md5_checks(b"x"), metadata={})
    blobs.get_blob_client("d/2").create_snapshot()
    outcomes = await driver.delete(["d/1", "d/absent", "d/2", "d/1"])
    assert [(o.key, o.existed, o.error) for o in outcomes] == [
        ("d/1", True, None), ("d/absent", False, None), ("d/2", True, None),
        ("d/1", True, None),
    ]
    assert list(blobs.list_blobs(include=["snapshots"])) == []
    assert await driver.delete([]) == []


async def test_keys_that_need_url_encoding(driver: AzureDriver) -> None:
    """Keys with spaces, unicode and URL characters round-trip through every operation."""
    keys = ["a b/c d.txt", "ünï/cødé ✓.bin", "x+y=z&q?.txt", "percent%20sign", "semi;colon#"]
    for key in keys:
        await driver.put(key, key.encode(), checksums=md5_checks(key.encode()), metadata={})
        assert (await driver.stat(key)).size == len(key.encode())
        assert await _read(driver, key) == key.encode()
    assert [i.key async for i in driver.list("")] == sorted(keys)
    parts = await _multipart(driver, "ünï/big ✓", b"multi")
    assert parts[0].size == 5
    outcomes = await driver.delete([*keys, "ünï/big ✓"])
    assert all(o.existed and o.error is None for o in outcomes)
    assert [i.key async for i in driver.list("")] == []


async def test_metadata_round_trips(driver: AzureDriver, blobs: ContainerClient) -> None:
    """Metadata (non-ASCII too) round-trips through put and start_upload; bad names refused."""
    metadata = {"artifact": "modèle ✓", "archive": "none", "tricky": "=?UTF-8?B?eA==?=",
                "spaced": " padded "}
    await driver.put("k", b"x", checksums=md5_checks(b"x"), metadata=metadata)
    await _multipart(driver, "m", b"y", metadata=metadata)
    for key in ("k", "m"):
        assert (await driver.stat(key)).metadata == metadata
    raw = blobs.get_blob_client("k").get_blob_properties().metadata
    assert raw["archive"] == "none"
    assert raw["artifact"].isascii()
    for bad in ("n\u00e4me", "with-dash", "1digit", "artifacts_async_crc32c"):
        with pytest.raises(aa.ConfigurationError, match="metadata name"):
            await driver.put("k", b"x", checksums=md5_checks(b"x"), metadata={bad: "v"})
        with pytest.raises(aa.ConfigurationError, match="metadata name"):
            await driver.start_upload("k", metadata={bad: "v"})


async def test_parts_without_checksums(driver: AzureDriver) -> None:
    """Parts without an MD5 still upload; without part CRC32Cs no whole CRC32C is claimed."""
    upload_id = await driver.start_upload("k", metadata={})
    part = await driver.upload_part("k", upload_id, 1, b"data", offset=0,
                                    checksums=PartChecksums())
    assert part.checksums == {}
    info = await driver.complete_upload("k", upload_id, [part])
    assert info.checksums == {}
    assert info.size == 4


async def test_block_numbers_out_of_range(driver: AzureDriver) -> None:
    """Part numbers outside 1..50,000 are refused before anything is sent."""
    upload_id = await driver.start_upload("k", metadata={})
    for number in (0, 50_001):
        with pytest.raises(aa.ConfigurationError, match="out of range"):
            await driver.upload_part("k", upload_id, number, b"x", offset=0,
                                     checksums=md5_checks(b"x"))


async def test_upload_ids_carry_the_metadata_safely(driver: AzureDriver) -> None:
    """An upload id is a token plus base64url metadata; a damaged one is not ours."""
    upload_id = await driver.start_upload("k", metadata={"artifact": "a"})
    token, _, encoded = upload_id.partition(".")
    assert len(token) == 20
    assert base64.urlsafe_b64decode(encoded) == b'{"artifact":"a"}'
    with pytest.raises(aa.ArtifactNotFoundError):
        await driver.upload_part("k", f"{token}.not-base64!", 1, b"x", offset=0,
                                 checksums=md5_checks(b"x"))
    assert await driver.start_upload("k", metadata={}) != await driver.start_upload(
        "k", metadata={}
    )
