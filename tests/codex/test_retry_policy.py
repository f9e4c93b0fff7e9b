"""The Codex client's retry delays: the project's one back-off policy, with jitter on top."""

import pytest
from archive_service_codex.client import RetryPolicy

from archive_service.backoff import Backoff


@pytest.mark.parametrize("failed", [1, 2, 3, 4, 5, 12])
def test_delay_is_the_shared_backoff_with_jitter(failed: int) -> None:
    policy = RetryPolicy(attempts=20, backoff=0.2, backoff_max=3.0)
    base = Backoff(0.2, maximum=3.0).delay(failed)
    assert base == min(3.0, 0.2 * 2 ** (failed - 1))
    for _ in range(50):
        assert base / 2 <= policy.delay(failed) <= base
