"""The transfer budget's buffer pool: bounded by the budget, no per-size state for small
buffers, reuse of part-sized ones."""

from __future__ import annotations

import anyio
import pytest

from artifacts_async._budget import POOL_MIN, TransferBudget

pytestmark = pytest.mark.anyio

MiB = 1024 * 1024


async def test_small_buffers_leave_no_pool_state() -> None:
    """Thousands of distinct small sizes keep no free lists (the pool stays O(1) per call)."""
    budget = TransferBudget(max_parts=4, max_bytes=16 * MiB)
    for size in range(1, 5001):
        buffer = await budget.acquire_buffer(size)
        assert len(buffer) == size
        budget.release_buffer(buffer)
    assert budget._free_buffers == {}
    assert budget.held_bytes == 0


async def test_part_sized_buffers_are_reused() -> None:
    """A released part-sized buffer is handed out again for the same size."""
    budget = TransferBudget(max_parts=4, max_bytes=16 * MiB)
    first = await budget.acquire_buffer(2 * MiB)
    budget.release_buffer(first)
    again = await budget.acquire_buffer(2 * MiB)
    assert again is first
    budget.release_buffer(again)


async def test_pooled_bytes_never_exceed_the_budget() -> None:
    """Free buffers of other sizes are dropped so pooled memory stays within max_bytes."""
    budget = TransferBudget(max_parts=4, max_bytes=8 * MiB)
    for step in range(40):
        size = POOL_MIN + step * 97_001  # distinct part sizes, each at least POOL_MIN
        buffers = [await budget.acquire_buffer(size) for _ in range(8 * MiB // size)]
        for buffer in buffers:
            budget.release_buffer(buffer)
        pooled = sum(len(b) for free in budget._free_buffers.values() for b in free)
        assert pooled == budget._pooled <= budget.max_bytes


async def test_try_acquire_takes_only_free_bytes_nobody_waits_for() -> None:
    """`try_acquire_bytes` takes free bytes at once, refuses what is not free, and never
    jumps ahead of a waiter."""
    budget = TransferBudget(max_parts=2, max_bytes=10)
    assert budget.try_acquire_bytes(6)
    assert budget.held_bytes == 6
    assert not budget.try_acquire_bytes(5)
    async with anyio.create_task_group() as tg:
        tg.start_soon(budget.acquire_bytes, 8)  # waits: only 4 are free
        await anyio.wait_all_tasks_blocked()
        assert not budget.try_acquire_bytes(1)  # free, but someone waits first
        budget.release_bytes(6)  # the waiter gets its 8
    assert budget.held_bytes == 8
    assert budget.peak_bytes == 8
