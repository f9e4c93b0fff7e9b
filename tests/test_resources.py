"""The per-side meter reports each process's own peak RSS, not its parent's (issue #14: every
`compare` side reported the same figure because Linux carries ru_maxrss over fork and exec)."""

from __future__ import annotations

import multiprocessing
import sys

import pytest
from archive_service_cli.resources import ResourceMeter

MiB = 1 << 20


def _side_peak(queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    meter = ResourceMeter().start()
    small = bytearray(8 * MiB)  # touched: the side's own work
    queue.put((meter.stop().peak_rss, len(small)))


@pytest.mark.skipif(sys.platform != "linux", reason="VmHWM and clear_refs are Linux's")
def test_a_spawned_side_reports_its_own_peak_not_the_parents() -> None:
    big = bytearray(400 * MiB)  # the parent's high-water mark while the side starts
    big[::4096] = b"\x01" * len(big[::4096])
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    side = ctx.Process(target=_side_peak, args=(queue,))
    side.start()
    peak, _ = queue.get(timeout=60)
    side.join(timeout=60)
    assert peak < 200 * MiB, f"the side reported {peak / MiB:.0f} MiB"
    del big


def test_a_meter_counts_what_it_sees_after_start() -> None:
    meter = ResourceMeter().start()
    held = bytearray(64 * MiB)
    held[::4096] = b"\x01" * len(held[::4096])
    usage = meter.stop()
    assert usage.peak_rss >= 64 * MiB
    del held
