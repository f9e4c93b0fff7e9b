"""The one exponential back-off policy: the first delay, doubled after every further failed
attempt, optionally for at most `cap_doublings` doublings and at most `maximum` seconds.
Pure arithmetic; callers wait through their own clock."""

from __future__ import annotations

import math
from dataclasses import dataclass

from archive_service.errors import InvalidInputError


@dataclass(frozen=True)
class Backoff:
    """delay(n) = min(maximum, first * 2 ** min(n - 1, cap_doublings)) for attempt n >= 1."""

    first: float
    cap_doublings: int | None = None
    maximum: float | None = None

    def __post_init__(self) -> None:
        if not self.first >= 0:  # also refuses NaN
            raise InvalidInputError(f"back-off first delay must be >= 0 seconds, got {self.first}")
        if self.cap_doublings is not None and self.cap_doublings < 0:
            raise InvalidInputError(
                f"back-off cap_doublings must be >= 0 or None, got {self.cap_doublings}"
            )
        if self.maximum is not None and not self.maximum >= 0:
            raise InvalidInputError(f"back-off maximum must be >= 0 seconds, got {self.maximum}")

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1 = the first failure)."""
        if attempt < 1:
            raise InvalidInputError(f"back-off attempts count from 1, got {attempt}")
        doublings = attempt - 1
        if self.cap_doublings is not None:
            doublings = min(doublings, self.cap_doublings)
        if self.first == 0:
            return 0.0
        try:
            value = self.first * 2**doublings
        except OverflowError:  # 2**doublings beyond a float: unbounded unless capped
            value = math.inf
        return value if self.maximum is None else min(self.maximum, value)
