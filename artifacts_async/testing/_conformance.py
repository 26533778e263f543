"""The behavioural suite every driver runs against a live instance of its backend.

Only the public driver surface is used (`artifacts_async.abc`): nothing backend specific.
"""

from __future__ import annotations

import os
import tracemalloc
from collections.abc import AsyncIterator, Mapping

import pytest

from .._exceptions import ArtifactNotFoundError, IntegrityError
from ..abc import Driver, PartChecksums, crc32c, part_checksums
from ._dirconformance import DirectoryConformance

pytestmark = pytest.mark.anyio

#: A key with a space and non-ASCII characters, which every driver must round-trip.
ODD_KEY = "dir with space/naïve ☃.bin"


def checks(driver: Driver, data: bytes) -> PartChecksums:
    """The per-part checksums the driver's backend verifies, for `data`."""
    return part_checksums(data, driver.limits.checksums)[0]


def wrong_checks(driver: Driver, data: bytes) -> PartChecksums:
    """Checksums of other bytes, for the kinds the backend verifies."""
    return part_checksums(data + b"!", driver.limits.checksums)[0]


async def read_all(driver: Driver, key: str, *, offset: int = 0,
                   length: int | None = None) -> bytes:
    """All bytes of a (ranged) read."""
    return b"".join([c async for c in driver.read(key, offset=offset, length=length)])


async def put(driver: Driver, key: str, data: bytes) -> None:
    """Store `data` under `key` with a single put."""
    await driver.put(key, data, checksums=checks(driver, data), metadata={})


def part_size(driver: Driver, wanted: int = 64 * 1024) -> int:
    """A part size near `wanted` the backend accepts for non-last parts."""
    return max(driver.limits.min_part_size, min(driver.limits.max_part_size, wanted))


async def upload(driver: Driver, key: str, data: bytes, *, size: int,
                 metadata: Mapping[str, str] | None = None) -> None:
    """Store `data` under `key` as a multipart upload of parts of `size` bytes."""
    upload_id = await driver.start_upload(key, metadata=metadata or {})
    view = memoryview(data)
    for index, start in enumerate(range(0, max(len(data), 1), size)):
        piece = bytes(view[start : start + size])
        await driver.upload_part(key, upload_id, index + 1, piece, offset=start,
                                 checksums=checks(driver, piece))
    parts = await driver.list_parts(key, upload_id)
    await driver.complete_upload(key, upload_id, parts)


#: Metadata as the core writes it, with a value outside ASCII (artifact names may be), one
#: with spaces at its ends (an HTTP header would trim them) and one that looks encoded.
METADATA = {"artifact": "modèle ☃", "archive": "tgz", "mode": "640",
            "note": " padded ", "word": "=?UTF-8?B?eA==?="}

#: The object `test_read_is_lazy` reads, and the most a read may allocate before the
#: caller has taken a few chunks (a driver that buffers the whole object exceeds it).
LAZY_SIZE = 24 * 1024 * 1024
LAZY_LIMIT = LAZY_SIZE // 2


class DriverConformance(DirectoryConformance):
    """Subclass in a test module and provide an async `driver` fixture yielding a fresh,
    empty driver. Set `verifies_checksums = False` when the test server never rejects a
    wrong checksum (moto for S3), or the driver declares no per-part checksum (local:
    nothing is in transit): the checksum-rejection test is then not collected at all
    (rather than skipped), and the engine's own verification covers that backend.
    """

    pytestmark = pytest.mark.anyio
    verifies_checksums: bool = True

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.verifies_checksums:
            cls.test_bad_checksum_rejected = None  # type: ignore[assignment,method-assign]

    async def test_put_stat_read_delete(self, driver: Driver) -> None:
        """A put object can be stat'ed, read whole, and deleted."""
        data = os.urandom(10_000)
        await put(driver, "conf/a.bin", data)
        info = await driver.stat("conf/a.bin")
        assert info.size == len(data)
        assert info.key == "conf/a.bin"
        if "crc32c" in info.checksums:
            assert int(info.checksums["crc32c"], 16) == crc32c(data)
        assert await read_all(driver, "conf/a.bin") == data
        (outcome,) = await driver.delete(["conf/a.bin"])
        assert outcome.key == "conf/a.bin"
        assert outcome.error is None
        assert outcome.existed is (True if driver.limits.delete_reports_absence else None)
        with pytest.raises(ArtifactNotFoundError):
            await driver.stat("conf/a.bin")

    async def test_put_replaces(self, driver: Driver) -> None:
        """A second put of a key replaces the first."""
        await put(driver, "conf/r", b"first")
        await put(driver, "conf/r", b"second!")
        assert await read_all(driver, "conf/r") == b"second!"

    async def test_empty_object(self, driver: Driver) -> None:
        """A 0-byte object round-trips."""
        await put(driver, "conf/empty", b"")
        assert (await driver.stat("conf/empty")).size == 0
        assert await read_all(driver, "conf/empty") == b""

    async def test_list_prefix_in_key_order(self, driver: Driver) -> None:
        """list(prefix) yields only keys under the prefix, in key order."""
        keys = ["conf/list/b", "conf/list/a", "conf/list/sub/c", "conf/other/x", "conf/listing"]
        for key in keys:
            await put(driver, key, key.encode())
        listed = [info.key async for info in driver.list("conf/list/")]
        assert listed == ["conf/list/a", "conf/list/b", "conf/list/sub/c"]
        sizes = {info.key: info.size async for info in driver.list("conf/list/")}
        assert sizes["conf/list/a"] == len(b"conf/list/a")
        assert [info.key async for info in driver.list("conf/nothing/")] == []

    async def test_bad_checksum_rejected(self, driver: Driver) -> None:
        """A put or part whose checksum does not match the data is an IntegrityError."""
        assert driver.limits.checksums, "the driver declares no checksum it verifies"
        data = b"payload" * 100
        with pytest.raises(IntegrityError):
            await driver.put("conf/bad", data, checksums=wrong_checks(driver, data), metadata={})
        with pytest.raises(ArtifactNotFoundError):
            await driver.stat("conf/bad")
        upload = await driver.start_upload("conf/bad-mp", metadata={})
        with pytest.raises(IntegrityError):
            await driver.upload_part("conf/bad-mp", upload, 1, data, offset=0,
                                     checksums=wrong_checks(driver, data))
        await driver.abort_upload("conf/bad-mp", upload)

    async def test_multipart_round_trip(self, driver: Driver) -> None:
        """Parts uploaded out of order complete into their concatenation."""
        size = part_size(driver)
        parts = [os.urandom(size), os.urandom(size), os.urandom(1000)]
        upload = await driver.start_upload("conf/mp.bin", metadata={})
        for number in (2, 3, 1):
            data = parts[number - 1]
            uploaded = await driver.upload_part("conf/mp.bin", upload, number, data,
                                                offset=(number - 1) * size,
                                                checksums=checks(driver, data))
            assert uploaded.number == number
            assert uploaded.size == len(data)
        listed = await driver.list_parts("conf/mp.bin", upload)
        assert [(p.number, p.size) for p in listed] == [(1, size), (2, size), (3, 1000)]
        with pytest.raises(ArtifactNotFoundError):
            await driver.stat("conf/mp.bin")  # invisible until complete
        assert [i.key async for i in driver.list("conf/mp")] == []
        info = await driver.complete_upload("conf/mp.bin", upload, listed)
        whole = b"".join(parts)
        assert info.size == len(whole)
        assert await read_all(driver, "conf/mp.bin") == whole
        assert (await driver.stat("conf/mp.bin")).size == len(whole)
        pending = await driver.list_uploads("conf/")
        assert upload not in [p.upload_id for p in pending]

    async def test_part_replaced(self, driver: Driver) -> None:
        """Sending a part number again replaces it."""
        size = part_size(driver)
        first, second, last = os.urandom(size), os.urandom(size), b"tail"
        upload = await driver.start_upload("conf/replace", metadata={})
        await driver.upload_part("conf/replace", upload, 1, first, offset=0,
                                 checksums=checks(driver, first))
        await driver.upload_part("conf/replace", upload, 1, second, offset=0,
                                 checksums=checks(driver, second))
        await driver.upload_part("conf/replace", upload, 2, last, offset=size,
                                 checksums=checks(driver, last))
        listed = await driver.list_parts("conf/replace", upload)
        assert [p.number for p in listed] == [1, 2]
        await driver.complete_upload("conf/replace", upload, listed)
        assert await read_all(driver, "conf/replace") == second + last

    async def test_abort(self, driver: Driver) -> None:
        """An aborted upload leaves nothing; aborting twice is not an error."""
        data = os.urandom(1000)
        upload = await driver.start_upload("conf/aborted", metadata={})
        await driver.upload_part("conf/aborted", upload, 1, data, offset=0,
                                 checksums=checks(driver, data))
        assert upload in [p.upload_id for p in await driver.list_uploads("conf/")]
        await driver.abort_upload("conf/aborted", upload)
        await driver.abort_upload("conf/aborted", upload)
        with pytest.raises(ArtifactNotFoundError):
            await driver.stat("conf/aborted")
        with pytest.raises(ArtifactNotFoundError):
            await driver.list_parts("conf/aborted", upload)
        assert upload not in [p.upload_id for p in await driver.list_uploads("conf/")]

    async def test_list_uploads_prefix(self, driver: Driver) -> None:
        """list_uploads shows started uploads that hold a part, under the prefix only.

        (A backend may know an upload only by its parts, as Azure knows staged blocks.)
        """
        inside = await driver.start_upload("conf/up/in", metadata={})
        outside = await driver.start_upload("conf/elsewhere/out", metadata={})
        for key, upload in (("conf/up/in", inside), ("conf/elsewhere/out", outside)):
            await driver.upload_part(key, upload, 1, b"part", offset=0,
                                     checksums=checks(driver, b"part"))
        ids = {p.upload_id: p.key for p in await driver.list_uploads("conf/up/")}
        assert ids.get(inside) == "conf/up/in"
        assert outside not in ids
        await driver.abort_upload("conf/up/in", inside)
        await driver.abort_upload("conf/elsewhere/out", outside)

    @pytest.mark.parametrize(
        ("offset", "length", "expected"),
        [
            (0, 100, slice(0, 100)),
            (1000, 2345, slice(1000, 3345)),
            (-500, None, slice(-500, None)),
            (9000, 5000, slice(9000, 10_000)),
            (5000, None, slice(5000, None)),
            (10_000, None, slice(10_000, 10_000)),
            (20_000, 10, slice(10_000, 10_000)),
        ],
    )
    async def test_ranged_reads(self, driver: Driver, offset: int, length: int | None,
                                expected: slice) -> None:
        """Ranges from the start, the middle, a suffix, past the end, beyond the end."""
        data = os.urandom(10_000)
        await put(driver, "conf/ranged", data)
        assert await read_all(driver, "conf/ranged", offset=offset, length=length) == \
            data[expected]

    async def test_missing_objects(self, driver: Driver) -> None:
        """stat and read of a missing key raise ArtifactNotFoundError (a FileNotFoundError)."""
        with pytest.raises(ArtifactNotFoundError):
            await driver.stat("conf/missing")
        with pytest.raises(FileNotFoundError):
            await driver.stat("conf/missing")
        with pytest.raises(ArtifactNotFoundError):
            await read_all(driver, "conf/missing")

    async def test_delete_is_idempotent(self, driver: Driver) -> None:
        """Deleting an absent key says so (existed False, or None if undeclarable), no error."""
        await put(driver, "conf/once", b"x")
        await driver.delete(["conf/once"])
        (outcome,) = await driver.delete(["conf/once"])
        assert outcome.error is None
        assert outcome.existed is (False if driver.limits.delete_reports_absence else None)

    async def test_batch_delete(self, driver: Driver) -> None:
        """More keys than one batch are deleted batch by batch, as the core sends them."""
        batch = driver.limits.delete_batch_size
        count = min(batch + 1, 1001)
        keys = [f"conf/batch/{i:05d}" for i in range(count)]
        for key in keys:
            await put(driver, key, b"")
        for start in range(0, count, batch):
            chunk = keys[start : start + batch]
            outcomes = await driver.delete(chunk)
            assert sorted(o.key for o in outcomes) == sorted(chunk)
            assert all(o.error is None for o in outcomes)
        assert [info.key async for info in driver.list("conf/batch/")] == []

    async def test_odd_keys(self, driver: Driver) -> None:
        """Keys with spaces and unicode round-trip through every operation."""
        data = "naïve ☃".encode() * 10
        await put(driver, ODD_KEY, data)
        assert (await driver.stat(ODD_KEY)).size == len(data)
        assert await read_all(driver, ODD_KEY) == data
        assert [i.key async for i in driver.list("dir with space/")] == [ODD_KEY]
        upload = await driver.start_upload(ODD_KEY + ".mp", metadata={})
        await driver.upload_part(ODD_KEY + ".mp", upload, 1, data, offset=0,
                                 checksums=checks(driver, data))
        parts = await driver.list_parts(ODD_KEY + ".mp", upload)
        await driver.complete_upload(ODD_KEY + ".mp", upload, parts)
        assert await read_all(driver, ODD_KEY + ".mp") == data
        outcomes = await driver.delete([ODD_KEY, ODD_KEY + ".mp"])
        assert all(o.error is None for o in outcomes)
        with pytest.raises(ArtifactNotFoundError):
            await driver.stat(ODD_KEY)

    async def test_describe_and_close(self, driver: Driver) -> None:
        """describe() names the key; aclose() can be called."""
        text = driver.describe("conf/some key")
        assert text
        assert "conf/some" in text
        await driver.aclose()

    async def test_metadata_round_trip(self, driver: Driver) -> None:
        """Metadata given to put and start_upload comes back from stat, and is replaced."""
        await driver.put("conf/meta", b"x", checksums=checks(driver, b"x"), metadata=METADATA)
        assert dict((await driver.stat("conf/meta")).metadata) == METADATA
        await driver.put("conf/meta", b"y", checksums=checks(driver, b"y"),
                         metadata={"artifact": "other"})
        assert dict((await driver.stat("conf/meta")).metadata) == {"artifact": "other"}
        await put(driver, "conf/meta", b"z")
        assert dict((await driver.stat("conf/meta")).metadata) == {}
        data = os.urandom(part_size(driver) + 10)
        await upload(driver, "conf/meta-mp", data, size=part_size(driver), metadata=METADATA)
        assert dict((await driver.stat("conf/meta-mp")).metadata) == METADATA
        await driver.delete(["conf/meta-mp"])
        await put(driver, "conf/meta-mp", b"new")
        assert dict((await driver.stat("conf/meta-mp")).metadata) == {}

    async def test_buffers_are_not_kept(self, driver: Driver) -> None:
        """Reusing a buffer after put/upload_part returns (as the engine does) changes nothing."""
        buffer = bytearray(os.urandom(5000))
        original = bytes(buffer)
        await driver.put("conf/buf", buffer, checksums=checks(driver, original), metadata={})
        buffer[:] = os.urandom(5000)
        upload_id = await driver.start_upload("conf/buf-mp", metadata={})
        buffer[:] = original
        await driver.upload_part("conf/buf-mp", upload_id, 1, buffer, offset=0,
                                 checksums=checks(driver, original))
        buffer[:] = os.urandom(5000)
        parts = await driver.list_parts("conf/buf-mp", upload_id)
        await driver.complete_upload("conf/buf-mp", upload_id, parts)
        assert await read_all(driver, "conf/buf") == original
        assert await read_all(driver, "conf/buf-mp") == original

    async def test_read_is_lazy(self, driver: Driver) -> None:
        """Taking the first chunks of a large object allocates far less than the object."""
        data = os.urandom(LAZY_SIZE)
        await upload(driver, "conf/lazy", data, size=part_size(driver, 4 * 1024 * 1024))
        del data  # only what the read allocates is measured below
        tracing = tracemalloc.is_tracing()
        if not tracing:
            tracemalloc.start()
        tracemalloc.reset_peak()
        try:
            chunks: AsyncIterator[bytes] = driver.read("conf/lazy")
            received = 0
            while received < 2 * 1024 * 1024:
                chunk = await chunks.__anext__()
                assert len(chunk) > 0
                received += len(chunk)
            await chunks.aclose()  # type: ignore[attr-defined]
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            if not tracing:
                tracemalloc.stop()
        assert received < LAZY_SIZE
        assert peak < LAZY_LIMIT, (
            f"reading the first {received} bytes allocated {peak} bytes: read() must "
            "stream, not buffer the whole object"
        )
