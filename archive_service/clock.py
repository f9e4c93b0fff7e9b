"""Injectable time: every wait of the manager (intervals, back-offs, import pacing, the import
gate) goes through a Clock, so tests run a week in a fraction of a second without faking
timestamps, or step time by hand with ManualClock and never sleep."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Unix seconds (link clocks, archive windows)."""

    def monotonic(self) -> float:
        """Seconds that never go backwards, for deadlines (a wall-clock jump must not stretch
        a back-off or stall the import pacing)."""

    async def sleep(self, seconds: float) -> None:
        """Sleep `seconds` of this clock's time."""


class SystemClock:
    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ScaledClock:
    """Starts at `start` (unix seconds) and runs `speed` times faster than real time, so an
    interval of a week with speed=604800 passes in one real second."""

    def __init__(self, start: float, speed: float) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.start = start
        self.speed = speed
        self._t0 = time.monotonic()

    def now(self) -> float:
        return self.start + self.monotonic()

    def monotonic(self) -> float:
        return (time.monotonic() - self._t0) * self.speed

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)


SETTLE_ROUNDS = 10  # event-loop turns ManualClock.run_until yields before it moves time


class ManualClock:
    """Time that moves only when a test says so: `sleep` returns once `advance` has passed
    its deadline. `run_until` drives a scenario by jumping to each next deadline."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._order = itertools.count()  # equal deadlines wake in the order they slept
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._slept = asyncio.Event()  # set whenever a task starts sleeping

    def now(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)  # still a suspension point, as asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._order), future))
        self._slept.set()
        await future

    @property
    def deadlines(self) -> list[float]:
        """The deadlines of every sleep still waiting, earliest first."""
        return sorted(d for d, _, f in self._sleepers if not f.done())

    def advance(self, seconds: float) -> None:
        """Move time forward and wake every sleep whose deadline has come."""
        if seconds < 0:
            raise ValueError("a clock never goes backwards")
        self._now += seconds
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)

    async def wait_for_sleeper(self, count: int = 1) -> None:
        """Return once `count` sleeps wait on this clock (at once if they already do)."""
        while len(self.deadlines) < count:
            self._slept.clear()
            await self._slept.wait()

    async def run_until(self, target: asyncio.Future[object] | asyncio.Task[object]) -> None:
        """Until `target` is done: whenever a task sleeps on this clock, advance to the
        earliest deadline. Awaiting `target` raises what it raised."""
        while not target.done():
            sleeper = asyncio.ensure_future(self.wait_for_sleeper())
            try:
                await asyncio.wait({target, sleeper}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
            # Let the tasks that are ready run first, so time does not jump past work that
            # needs none (a task woken by an event rather than by this clock).
            for _ in range(SETTLE_ROUNDS):
                await asyncio.sleep(0)
            if target.done():
                break
            pending = self.deadlines
            if pending:
                self.advance(pending[0] - self._now)
            # Let the woken tasks run before looking at the deadlines again.
            await asyncio.sleep(0)
        await target


async def wait_event(clock: Clock, event: asyncio.Event, seconds: float) -> bool:
    """Wait until `event` is set or `seconds` of `clock` time pass; True if the event fired."""
    if event.is_set():
        return True
    waiter = asyncio.ensure_future(event.wait())
    timer = asyncio.ensure_future(clock.sleep(seconds))
    try:
        await asyncio.wait({waiter, timer}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (waiter, timer):
            task.cancel()
        await asyncio.gather(waiter, timer, return_exceptions=True)
    return event.is_set()


def now_ms(clock: Clock) -> int:
    return int(clock.now() * 1000)
