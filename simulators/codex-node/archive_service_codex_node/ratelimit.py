"""Token buckets that make a node honour its performance profile (see profile.py).

A bucket lets bytes through at `rate` per second on the node's clock, with a burst of one
block. Takers may overdraw it: each waits until its own bytes are paid for, so concurrent
takers share the rate instead of each getting it.
"""

from __future__ import annotations

from archive_service.clock import Clock
from archive_service_codex_node.profile import PerformanceProfile

BURST_BYTES = 65536  # one Codex block


class TokenBucket:
    def __init__(self, rate: float, clock: Clock, burst: float = BURST_BYTES) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._tokens = burst
        self._last = clock.now()

    async def take(self, amount: int) -> None:
        now = self.clock.now()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        self._tokens -= amount
        if self._tokens < 0:
            await self.clock.sleep(-self._tokens / self.rate)


async def _take(bucket: TokenBucket | None, amount: int) -> None:
    if bucket is not None:
        await bucket.take(amount)


class NodeLimits:
    """One node's buckets: upload and local read per node, block exchange per peer."""

    def __init__(self, profile: PerformanceProfile, clock: Clock) -> None:
        self.profile = profile
        self.clock = clock
        self._upload = self._bucket(profile.upload_bytes_per_s)
        self._local_read = self._bucket(profile.local_read_bytes_per_s)
        self._exchange: dict[str, TokenBucket] = {}

    def _bucket(self, rate: float | None) -> TokenBucket | None:
        return None if rate is None else TokenBucket(rate, self.clock)

    async def upload(self, amount: int) -> None:
        await _take(self._upload, amount)

    async def local_read(self, amount: int) -> None:
        await _take(self._local_read, amount)

    async def exchange_latency(self) -> None:
        if self.profile.request_latency_s > 0:
            await self.clock.sleep(self.profile.request_latency_s)

    async def exchange(self, peer: str, amount: int) -> None:
        """Bytes sent to `peer` (its connection's share of the exchange rate)."""
        rate = self.profile.exchange_bytes_per_s
        if rate is None:
            return
        bucket = self._exchange.get(peer)
        if bucket is None:
            bucket = self._exchange[peer] = TokenBucket(rate, self.clock)
        await bucket.take(amount)


__all__ = ["BURST_BYTES", "NodeLimits", "TokenBucket"]
