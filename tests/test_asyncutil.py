"""asyncutil.wait_cancellable: result, cancellation, timeout, and no orphaned work."""

from __future__ import annotations

import asyncio
import gc

import pytest

from archive_service.asyncutil import iterate_in_thread, wait_cancellable
from archive_service.errors import ArchiveTimeoutError, OperationCancelled


async def test_returns_the_result() -> None:
    assert await wait_cancellable(asyncio.sleep(0, result=7), asyncio.Event(), 1) == 7


async def test_cancel_event_cancels_the_work() -> None:
    cancel = asyncio.Event()
    started = asyncio.Event()
    finished: list[str] = []

    async def work() -> None:
        started.set()
        try:
            await asyncio.sleep(30)
        finally:
            finished.append("unwound")

    async def trigger() -> None:
        await started.wait()
        cancel.set()

    trigger_task = asyncio.create_task(trigger())
    with pytest.raises(OperationCancelled):
        await wait_cancellable(work(), cancel, 10, what="download")
    await trigger_task
    assert finished == ["unwound"]  # the work ended before wait_cancellable returned


async def test_timeout_names_the_operation() -> None:
    with pytest.raises(ArchiveTimeoutError, match=r"index fetch timed out after 0\.05 s"):
        await wait_cancellable(asyncio.sleep(5), None, 0.05, what="index fetch")


async def test_work_failing_while_cancelled_is_not_left_unretrieved() -> None:
    loop = asyncio.get_running_loop()
    reported: list[dict[str, object]] = []
    loop.set_exception_handler(lambda _loop, ctx: reported.append(ctx))
    cancel = asyncio.Event()
    started = asyncio.Event()

    async def fails_while_unwinding() -> None:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            raise ValueError("cleanup failed") from None

    async def trigger() -> None:
        await started.wait()
        cancel.set()

    trigger_task = asyncio.create_task(trigger())
    with pytest.raises(OperationCancelled):
        await wait_cancellable(fails_while_unwinding(), cancel, 10)
    await trigger_task
    gc.collect()  # an unretrieved task exception is reported when the task is collected
    await asyncio.sleep(0)
    assert not [c for c in reported if "never retrieved" in str(c.get("message", ""))]


async def test_iterate_in_thread_yields_every_item_in_order() -> None:
    assert [x async for x in iterate_in_thread(iter(range(5)))] == [0, 1, 2, 3, 4]


async def test_wait_readable_returns_once_the_socket_has_data() -> None:
    import socket

    from archive_service.asyncutil import wait_readable

    reader, writer = socket.socketpair()
    with reader, writer:
        waiting = asyncio.ensure_future(wait_readable(reader))
        await asyncio.sleep(0)  # one loop turn: still waiting, nothing was written
        assert not waiting.done()
        writer.send(b"x")
        await asyncio.wait_for(waiting, 5)
        assert reader.recv(1) == b"x"
        assert not asyncio.get_running_loop().remove_reader(reader.fileno())  # cleaned up
