"""Token buckets that make a node honour its performance profile (see profile.py).

A bucket lets bytes through at `rate` per second on the node's clock. Takers may overdraw it:
each waits until its own bytes are paid for, so concurrent takers share the rate instead of
each getting it. While a transfer keeps it busy, the bucket credits the time its taker spent
working between takes (hashing, writing, a slow reader), up to CATCH_UP_S of bytes, so the
rate is the transfer's rate and not the rate minus the simulator's own cost. After an idle
spell of more than IDLE_S, only a burst of one block is free.
"""

from __future__ import annotations

from archive_service.clock import Clock
from archive_service_codex_node.profile import PerformanceProfile

BURST_BYTES = 65536  # one Codex block
IDLE_S = 0.25
CATCH_UP_S = 0.25


class TokenBucket:
    def __init__(self, rate: float, clock: Clock, burst: float = BURST_BYTES) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._tokens = burst
        self._last: float | None = None  # time of the last take; None: never used

    async def take(self, amount: int) -> None:
        now = self.clock.now()
        elapsed = IDLE_S + 1 if self._last is None else max(0.0, now - self._last)
        cap = self.burst if elapsed > IDLE_S else max(self.burst, self.rate * CATCH_UP_S)
        self._tokens = min(cap, self._tokens + elapsed * self.rate)
        self._last = now
        self._tokens -= amount
        if self._tokens < 0:
            await self.clock.sleep(-self._tokens / self.rate)


async def _take(bucket: TokenBucket | None, amount: int) -> None:
    if bucket is not None:
        await bucket.take(amount)


class NodeLimits:
    """One node's buckets: upload and local read per node, block exchange per peer, and the
    node's link when one is given (scenarios shaping a member's or the owner's line):
    `uplink_bytes_per_s` caps all blocks it serves together, `downlink_bytes_per_s` all
    blocks it receives together."""

    def __init__(
        self,
        profile: PerformanceProfile,
        clock: Clock,
        *,
        uplink_bytes_per_s: float | None = None,
        downlink_bytes_per_s: float | None = None,
    ) -> None:
        self.profile = profile
        self.clock = clock
        self._upload = self._bucket(profile.upload_bytes_per_s)
        self._local_read = self._bucket(profile.local_read_bytes_per_s)
        self._exchange: dict[str, TokenBucket] = {}
        self._uplink = self._bucket(uplink_bytes_per_s)
        self._downlink = self._bucket(downlink_bytes_per_s)

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
        await _take(self._uplink, amount)
        rate = self.profile.exchange_bytes_per_s
        if rate is None:
            return
        bucket = self._exchange.get(peer)
        if bucket is None:
            bucket = self._exchange[peer] = TokenBucket(rate, self.clock)
        await bucket.take(amount)

    async def downlink(self, amount: int) -> None:
        """Bytes received from any peer (the node's line, when shaped)."""
        await _take(self._downlink, amount)


__all__ = ["BURST_BYTES", "CATCH_UP_S", "IDLE_S", "NodeLimits", "TokenBucket"]
