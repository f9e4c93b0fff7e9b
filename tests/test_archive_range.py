"""Bounds of an archive run (issue #11 item 6): a range is refused before any window is
walked, and the partitioner never walks an unbounded number of windows."""

from __future__ import annotations

import time

import pytest

from archive_service.archives import MAX_PARTITIONS, check_archive_range, partitions
from archive_service.errors import ArchiveRangeError, InvalidInputError

WEEK = 7 * 24 * 3600
NOW = 1_800_000_000
FIRST = 1_700_000_000


def test_a_range_that_can_hold_messages_is_accepted() -> None:
    check_archive_range(FIRST, NOW, first_message=FIRST, now=NOW, interval=WEEK)
    check_archive_range(FIRST, NOW + WEEK, first_message=FIRST, now=NOW, interval=WEEK)


@pytest.mark.parametrize(
    ("start", "end", "bound"),
    [
        (FIRST, 9223372036854775808, "after now plus one archive interval"),
        (FIRST, NOW + WEEK + 1, "after now plus one archive interval"),
        (0, NOW, "before the first message"),
        (FIRST - 1, NOW, "before the first message"),
        (NOW, NOW, "nothing to archive"),
        (NOW, FIRST, "nothing to archive"),
    ],
)
def test_a_range_outside_the_history_is_refused(start: int, end: int, bound: str) -> None:
    with pytest.raises(ArchiveRangeError, match=bound) as refused:
        check_archive_range(start, end, first_message=FIRST, now=NOW, interval=WEEK)
    assert isinstance(refused.value, InvalidInputError)  # one typed family for bad input


def test_the_partitioner_refuses_an_unbounded_walk_at_once() -> None:
    began = time.monotonic()
    with pytest.raises(ArchiveRangeError, match="over the 100,000-window limit"):
        partitions(0, 9223372036854775808, WEEK)
    assert time.monotonic() - began < 1.0
    windows = partitions(0, MAX_PARTITIONS * 10, 10)  # exactly the limit: allowed
    assert next(windows) == (0, 10)
    with pytest.raises(ArchiveRangeError):
        partitions(0, MAX_PARTITIONS * 10 + 1, 10)
