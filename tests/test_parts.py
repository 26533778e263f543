"""Part planning within the backend's limits and the memory budget."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from artifacts_async import ConfigurationError, TransferError, TransferOptions
from artifacts_async.abc import DriverLimits

MiB = 1024**2
GiB = 1024**3
TiB = 1024**4

S3 = DriverLimits(min_part_size=5 * MiB, max_part_size=5 * GiB, max_parts=10_000,
                  max_object_size=5 * TiB, max_single_put=5 * GiB)
AZURE = DriverLimits(min_part_size=1, max_part_size=4000 * MiB, max_parts=50_000,
                     max_object_size=50_000 * 4000 * MiB, max_single_put=5000 * MiB)
LOCAL = DriverLimits(min_part_size=1, max_part_size=5 * GiB, max_parts=100_000,
                     max_object_size=None, max_single_put=8 * MiB)


def sizer(size: int | None, limits: DriverLimits, **options: int) -> object:
    from artifacts_async._parts import PartSizer  # noqa: PLC0415

    return PartSizer(size, limits, TransferOptions(**options))  # type: ignore[arg-type]


def parts_for(size: int, limits: DriverLimits, **options: int) -> list[int]:
    from artifacts_async._parts import PartSizer  # noqa: PLC0415

    plan = PartSizer(size, limits, TransferOptions(**options))  # type: ignore[arg-type]
    sizes, left, n = [], size, 1
    while left > 0:
        part = min(plan.part_size(n), left)
        sizes.append(part)
        left -= part
        n += 1
    return sizes


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (0, []),
        (1, [1]),
        (8 * MiB, [8 * MiB]),
        (16 * MiB, [8 * MiB, 8 * MiB]),
        (16 * MiB + 1, [8 * MiB, 8 * MiB, 1]),
    ],
)
def test_small_and_exact_multiples(size: int, expected: list[int]) -> None:
    """0 bytes, 1 byte and exact multiples of the part size split as expected."""
    assert parts_for(size, S3) == expected


def test_five_tib_fits_s3_with_enough_budget() -> None:
    """A 5 TiB object fits S3's 10,000 parts with parts of 525 MiB."""
    sizes = parts_for(5 * TiB, S3, max_buffer_bytes=2 * GiB)
    assert len(sizes) <= 10_000
    assert max(sizes) == 525 * MiB
    assert sum(sizes) == 5 * TiB
    assert all(s >= 5 * MiB for s in sizes[:-1])


def test_five_tib_needs_a_budget_that_holds_a_part() -> None:
    """With the default 256 MiB budget a 5 TiB object is refused before anything is sent."""
    with pytest.raises(TransferError, match="raise max_buffer_bytes"):
        sizer(5 * TiB, S3)


def test_too_large_for_backend() -> None:
    """An object above the backend's maximum is refused."""
    with pytest.raises(TransferError, match="larger than the backend allows"):
        sizer(5 * TiB + 1, S3, max_buffer_bytes=4 * GiB)


def test_azure_limits() -> None:
    """Azure's 50,000 blocks keep 100 GiB objects at the default part size."""
    sizes = parts_for(100 * GiB, AZURE)
    assert len(sizes) == 12_800
    assert set(sizes) == {8 * MiB}


def test_unknown_size_grows_to_fit() -> None:
    """A stream of unknown size gets growing parts; with a 1 GiB budget it can reach 5 TiB."""
    from artifacts_async._parts import PartSizer  # noqa: PLC0415

    plan = PartSizer(None, S3, TransferOptions(max_buffer_bytes=GiB))
    assert plan.part_size(1) == 8 * MiB
    assert plan.part_size(625) == 8 * MiB
    assert plan.part_size(626) == 16 * MiB
    assert plan.part_size(10_000) == GiB
    assert sum(plan.part_size(n) for n in range(1, 10_001)) >= 5 * TiB
    with pytest.raises(TransferError, match="more than the backend's 10000 parts"):
        plan.part_size(10_001)
    default = PartSizer(None, S3, TransferOptions())
    assert max(default.part_size(n) for n in range(1, 10_001)) == 256 * MiB


def test_user_part_size_checked() -> None:
    """A user's part size outside the backend's range or making too many parts is refused."""
    with pytest.raises(ConfigurationError, match="outside the backend's range"):
        sizer(100, S3, part_size=1 * MiB)
    with pytest.raises(ConfigurationError, match="more than the backend's"):
        sizer(100 * GiB, S3, part_size=5 * MiB)
    assert parts_for(12 * MiB, S3, part_size=5 * MiB) == [5 * MiB, 5 * MiB, 2 * MiB]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_parts_in_flight": 0}, "max_parts_in_flight"),
        ({"max_buffer_bytes": 1000}, "at least 1 MiB"),
        ({"part_size": 0}, "part_size"),
        ({"part_size": 512 * MiB}, "larger than max_buffer_bytes"),
        ({"single_put_threshold": -1}, "single_put_threshold"),
    ],
)
def test_invalid_options(options: dict[str, int], message: str) -> None:
    """Invalid transfer options are a ConfigurationError at construction."""
    with pytest.raises(ConfigurationError, match=message):
        TransferOptions(**options)  # type: ignore[arg-type]


def test_local_has_no_practical_limit() -> None:
    """The local driver takes a 1 TiB object with the default part size."""
    assert sizer(TiB, LOCAL) is not None


# Properties of part planning, for any backend limits, options and object size.

limits_strategy = st.builds(
    lambda min_part, max_factor, max_parts, max_object, single: DriverLimits(
        min_part_size=min_part, max_part_size=min_part * max_factor, max_parts=max_parts,
        max_object_size=max_object, max_single_put=single),
    min_part=st.sampled_from([1, 1024, MiB, 5 * MiB]),
    max_factor=st.sampled_from([1, 16, 1024, 4096]),
    max_parts=st.integers(min_value=1, max_value=100_000),
    max_object=st.one_of(st.none(), st.integers(min_value=0, max_value=10 * TiB)),
    single=st.sampled_from([MiB, 8 * MiB, 5 * GiB]),
)
options_strategy = st.builds(
    lambda part_size, budget: TransferOptions(part_size=part_size, max_buffer_bytes=budget),
    part_size=st.one_of(st.none(), st.sampled_from([MiB, 5 * MiB, 8 * MiB, 64 * MiB])),
    budget=st.sampled_from([64 * MiB, 256 * MiB, 2 * GiB]),
)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(limits=limits_strategy, options=options_strategy,
       size=st.integers(min_value=0, max_value=6 * TiB))
def test_known_size_plans_fit_or_are_refused_up_front(
        limits: DriverLimits, options: TransferOptions, size: int) -> None:
    """A known size gets uniform parts within the backend's range and the budget that
    cover the object in at most max_parts parts, or a typed refusal before any byte."""
    from artifacts_async._parts import PartSizer  # noqa: PLC0415

    cap = min(limits.max_part_size, options.max_buffer_bytes)
    feasible = options.part_size is None and limits.min_part_size <= cap and \
        -(-size // cap) <= limits.max_parts and \
        (limits.max_object_size is None or size <= limits.max_object_size)
    try:
        plan = PartSizer(size, limits, options)
    except (TransferError, ConfigurationError):
        assert not feasible  # refused only when no part size could carry it
        return
    base = plan.part_size(1)
    assert limits.min_part_size <= base <= limits.max_part_size
    assert base <= options.max_buffer_bytes
    assert -(-size // base) <= limits.max_parts
    assert plan.part_size(limits.max_parts) == base  # uniform
    if limits.max_object_size is not None:
        assert size <= limits.max_object_size
    if options.part_size is not None:
        assert base == options.part_size


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(limits=limits_strategy, budget=st.sampled_from([64 * MiB, 256 * MiB, 2 * GiB]),
       number=st.integers(min_value=1, max_value=100_000))
def test_unknown_size_parts_grow_monotonically_within_limits(
        limits: DriverLimits, budget: int, number: int) -> None:
    """For a stream, part sizes never shrink, stay within the backend's range and the
    budget, and asking past max_parts is a TransferError."""
    from artifacts_async._parts import PartSizer  # noqa: PLC0415

    try:
        plan = PartSizer(None, limits, TransferOptions(max_buffer_bytes=budget))
    except TransferError:
        return
    if number > limits.max_parts:
        with pytest.raises(TransferError, match="more than the backend's"):
            plan.part_size(number)
        return
    size = plan.part_size(number)
    assert limits.min_part_size <= size <= min(limits.max_part_size, budget)
    assert plan.part_size(max(1, number - 1)) <= size
    assert plan.part_size(1) <= size
