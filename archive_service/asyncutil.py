"""Small asyncio helpers shared by the backends and the manager."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Iterator
from types import TracebackType
from typing import Protocol, Self, TypeVar

from archive_service.errors import ArchiveTimeoutError, OperationCancelled

T = TypeVar("T")
_DONE = object()


async def iterate_in_thread(iterator: Iterator[T]) -> AsyncIterator[T]:
    """Pull a blocking iterator (SQLite reads, encoding, hashing) in a worker thread, one item
    at a time, so the event loop stays responsive and memory holds one item."""
    while True:
        item = await asyncio.to_thread(next, iterator, _DONE)
        if item is _DONE:
            return
        yield item  # type: ignore[misc]


async def wait_cancellable(
    awaitable: Awaitable[T],
    cancel: asyncio.Event | None,
    timeout: float | None = None,
    what: str = "operation",
) -> T:
    """Await `awaitable`, raising OperationCancelled if `cancel` fires first and
    ArchiveTimeoutError after `timeout` seconds. The awaitable is cancelled in both cases."""
    task = asyncio.ensure_future(awaitable)
    waiters: set[asyncio.Future[object]] = {task}
    cancel_task = asyncio.ensure_future(cancel.wait()) if cancel is not None else None
    if cancel_task is not None:
        waiters.add(cancel_task)
    try:
        done, _ = await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            return task.result()
        if cancel_task is not None and cancel_task in done:
            raise OperationCancelled(f"{what} cancelled")
        raise ArchiveTimeoutError(f"{what} timed out after {timeout:g} s")
    finally:
        for fut in waiters:
            if not fut.done():
                fut.cancel()
        # Let cancelled work unwind before returning (no task outlives its caller), and
        # collect the outcome of work that finished in the same instant as the cancel, so
        # asyncio never reports an exception that nobody retrieved.
        pending = [f for f in waiters if not f.done()]
        if pending:
            await asyncio.wait(pending)
        for fut in waiters:
            if fut.done() and not fut.cancelled():
                fut.exception()


class StartStop:
    """Something with an async `start` and `stop`: `async with` starts it and stops it."""

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


class _FileDescriptor(Protocol):
    def fileno(self) -> int: ...


async def wait_readable(source: _FileDescriptor) -> None:
    """Wait in the event loop (no thread touches it) until `source` (a pipe, a socket) has data
    to read."""
    loop = asyncio.get_running_loop()
    ready = asyncio.Event()
    loop.add_reader(source.fileno(), ready.set)
    try:
        await ready.wait()
    finally:
        loop.remove_reader(source.fileno())
