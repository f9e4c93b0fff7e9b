"""The one back-off policy, against the formulas it replaces."""

from __future__ import annotations

import math

import pytest

from archive_service.backoff import Backoff
from archive_service.errors import InvalidInputError


@pytest.mark.parametrize("n", range(1, 20))
def test_same_numbers_as_the_formulas_it_replaces(n: int) -> None:
    # manager, "no key yet": no_key_backoff * 2 ** min(n - 1, 6)
    assert Backoff(3600.0, cap_doublings=6).delay(n) == 3600.0 * 2 ** min(n - 1, 6)
    # manager, import error: error_backoff * 2 ** (n - 1)
    assert Backoff(0.05).delay(n) == 0.05 * 2 ** (n - 1)
    # Codex client: min(backoff_max, backoff * 2 ** (failed_attempts - 1))
    assert Backoff(0.2, maximum=3.0).delay(n) == min(3.0, 0.2 * (2 ** (n - 1)))


def test_first_delay_doubles_then_stops_at_the_cap_and_the_maximum() -> None:
    assert [Backoff(1.0).delay(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]
    assert [Backoff(1.0, cap_doublings=2).delay(n) for n in (1, 3, 4, 50)] == [1, 4, 4, 4]
    assert [Backoff(1.0, maximum=5).delay(n) for n in (1, 3, 4, 50)] == [1, 4, 5, 5]
    assert Backoff(1.0, cap_doublings=0).delay(7) == 1.0
    assert Backoff(0.0).delay(10_000) == 0.0


def test_huge_attempt_counts_do_not_overflow() -> None:
    assert Backoff(1.0, maximum=60.0).delay(100_000) == 60.0
    assert Backoff(1.0).delay(100_000) == math.inf
    assert Backoff(1.0, cap_doublings=6).delay(100_000) == 64.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"first": -1.0},
        {"first": math.nan},
        {"first": 1.0, "cap_doublings": -1},
        {"first": 1.0, "maximum": -0.5},
    ],
)
def test_bad_policy_is_a_typed_error(kwargs: dict[str, float]) -> None:
    with pytest.raises(InvalidInputError):
        Backoff(**kwargs)  # type: ignore[arg-type]


def test_attempts_count_from_one() -> None:
    with pytest.raises(InvalidInputError, match="count from 1"):
        Backoff(1.0).delay(0)
