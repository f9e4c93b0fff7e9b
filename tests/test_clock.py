"""The clocks: ManualClock wakes sleepers only when advanced, wait_event honours the clock."""

from __future__ import annotations

import asyncio

import pytest

from archive_service.clock import ManualClock, ScaledClock, SystemClock, now_ms, wait_event


async def test_manual_sleep_returns_when_advance_passes_its_deadline() -> None:
    clock = ManualClock(100.0)
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.now()))

    tasks = [asyncio.create_task(sleeper(n, s)) for n, s in (("b", 5), ("a", 2), ("c", 5))]
    await clock.wait_for_sleeper()
    await asyncio.sleep(0)  # every task has started sleeping
    assert clock.deadlines == [102.0, 105.0, 105.0]
    clock.advance(1.5)
    await asyncio.sleep(0)
    assert woke == []
    clock.advance(0.5)
    await asyncio.sleep(0)
    assert woke == [("a", 102.0)]
    clock.advance(10)
    await asyncio.gather(*tasks)
    assert woke[1:] == [("b", 112.0), ("c", 112.0)]  # equal deadlines in the order they slept
    assert clock.now() == clock.monotonic() == 112.0 and now_ms(clock) == 112_000


async def test_manual_sleep_of_zero_does_not_wait_and_cancelled_sleeps_are_forgotten() -> None:
    clock = ManualClock()
    await clock.sleep(0)
    await clock.sleep(-1)
    task = asyncio.create_task(clock.sleep(3))
    await clock.wait_for_sleeper()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert clock.deadlines == []
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1)


async def test_run_until_jumps_to_each_deadline() -> None:
    clock = ManualClock()
    seen: list[float] = []

    async def ticks() -> str:
        for delay in (3, 1, 10):
            await clock.sleep(delay)
            seen.append(clock.now())
        return "done"

    task = asyncio.ensure_future(ticks())
    await clock.run_until(task)
    assert task.result() == "done" and seen == [3, 4, 14]


async def test_wait_event_returns_on_the_event_or_after_the_clock_time() -> None:
    clock = ManualClock()
    event = asyncio.Event()
    waiting = asyncio.ensure_future(wait_event(clock, event, 60))
    await clock.wait_for_sleeper()
    event.set()
    assert await waiting is True
    assert clock.deadlines == []  # the timer was cancelled

    event.clear()
    waiting = asyncio.ensure_future(wait_event(clock, event, 60))
    await clock.wait_for_sleeper()
    clock.advance(60)
    assert await waiting is False
    assert await wait_event(clock, asyncio.Event(), 0) is False
    event.set()
    assert await wait_event(clock, event, 60) is True


async def test_system_and_scaled_clocks_move_forward() -> None:
    system = SystemClock()
    assert system.monotonic() <= system.monotonic()
    await system.sleep(-1)
    scaled = ScaledClock(start=1000.0, speed=1000.0)
    assert 0 <= scaled.monotonic() <= scaled.monotonic()
    assert scaled.now() >= 1000.0
    await scaled.sleep(-1)
    with pytest.raises(ValueError):
        ScaledClock(0, 0)
