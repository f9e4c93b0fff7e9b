"""Performance profiles: loading, the token buckets, and real nodes honouring the rates."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from archive_service_codex_node import LocalCodexNode
from archive_service_codex_node.cli import run_node_cli
from archive_service_codex_node.profile import (
    PerformanceProfile,
    ProfileError,
    bundled_profiles,
    load_profile,
)
from archive_service_codex_node.ratelimit import BURST_BYTES, IDLE_S, NodeLimits, TokenBucket

from archive_service.clock import SystemClock

NodeFactory = Callable[..., Awaitable[LocalCodexNode]]
ProcessFactory = Callable[..., Awaitable[object]]
MiB = 2**20


def test_bundled_profiles() -> None:
    assert bundled_profiles() == ["measured-2026-11", "unthrottled"]
    assert load_profile("unthrottled").unthrottled
    measured = load_profile("measured-2026-11")
    # The midpoints of issue 12's ranges: 34-42, 8.5-9.9 and 70-100 MiB/s.
    assert measured.upload_bytes_per_s == 38 * MiB
    assert measured.exchange_bytes_per_s == pytest.approx(9.2 * MiB)
    assert measured.local_read_bytes_per_s == 85 * MiB
    assert measured.request_latency_s == 0.0
    assert not measured.unthrottled


def test_a_profile_file_round_trips(tmp_path: Path) -> None:
    profile = PerformanceProfile(name='mine "fast"', upload_bytes_per_s=1e6, request_latency_s=0.01)
    path = tmp_path / "mine.toml"
    path.write_text(profile.to_toml())
    assert load_profile(path) == profile
    assert load_profile(str(path)) == profile
    path.write_text("exchange_bytes_per_s = 5e6\n")
    assert load_profile(path) == PerformanceProfile(name="mine", exchange_bytes_per_s=5e6)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("upload_rate = 5\n", "unknown key 'upload_rate'"),
        ("upload_bytes_per_s = 0\n", "upload_bytes_per_s must be a positive number"),
        ("request_latency_s = -1\n", "request_latency_s must be a positive number"),
        ('local_read_bytes_per_s = "fast"\n', "local_read_bytes_per_s must be a number"),
        ("name = 3\n", "name must be a string"),
        ("upload_bytes_per_s = \n", "is not valid TOML"),
    ],
)
def test_bad_profiles_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ProfileError, match=message):
        load_profile(path)


def test_an_unknown_profile_lists_the_bundled_ones(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ProfileError, match=r"measured-2026-11, unthrottled"):
        load_profile("measured-2030")
    assert run_node_cli(["--data-dir", "unused", "--profile", "measured-2030"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: no profile 'measured-2030'")


class VirtualClock(SystemClock):
    """Time passes only when somebody sleeps."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.waits: list[float] = []

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.t += seconds


async def test_token_bucket_shares_its_rate_between_takers() -> None:
    clock = VirtualClock()
    bucket = TokenBucket(1000.0, clock, burst=100)
    await bucket.take(100)  # the burst: no wait
    assert clock.waits == []
    await bucket.take(500)
    assert clock.waits == [0.5] and clock.t == pytest.approx(1000.5)
    # Takers at the same instant: each waits until its own bytes are paid for.
    frozen = FrozenClock(clock.t)
    shared = TokenBucket(1000.0, frozen, burst=0)
    await asyncio.gather(shared.take(500), shared.take(500), shared.take(250))
    assert frozen.waits == pytest.approx([0.5, 1.0, 1.25])


async def test_token_bucket_credits_work_time_but_not_idle_time() -> None:
    clock = VirtualClock()
    bucket = TokenBucket(1000.0, clock, burst=100)
    await bucket.take(100)
    # The taker worked 0.2 s (longer than the burst lasts) before its next 200 bytes: that
    # time is credited, so it does not wait for them.
    clock.t += 0.2
    await bucket.take(200)
    assert clock.waits == []
    # After an idle spell only the burst is free: 300 bytes wait for 200 of them.
    clock.t += IDLE_S + 1
    await bucket.take(300)
    assert clock.waits == pytest.approx([0.2])


async def test_a_node_uplink_caps_every_peer_together() -> None:
    # Per-peer exchange unlimited; the node's line caps what all askers get together.
    frozen = FrozenClock(1000.0)
    limits = NodeLimits(PerformanceProfile(name="open"), frozen, uplink_bytes_per_s=1000.0)
    await asyncio.gather(
        limits.exchange("a", BURST_BYTES), limits.exchange("b", 500), limits.exchange("c", 500)
    )
    assert frozen.waits == pytest.approx([0.5, 1.0])
    down = NodeLimits(PerformanceProfile(name="open"), frozen, downlink_bytes_per_s=2000.0)
    frozen.waits.clear()
    await down.downlink(BURST_BYTES + 1000)
    assert frozen.waits == pytest.approx([0.5])


class FrozenClock(VirtualClock):
    """Time stands still: a sleep is only recorded."""

    def __init__(self, t: float) -> None:
        super().__init__()
        self.t = t

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)


async def test_latency_is_waited_per_block_request(
    codex_node_factory: NodeFactory,
) -> None:
    clock = VirtualClock()
    slow = PerformanceProfile(name="slow", request_latency_s=0.05)
    a = await codex_node_factory("a", profile=slow, clock=clock)
    b = await codex_node_factory("b", bootstrap=[a.spr])
    async with httpx.AsyncClient(timeout=30) as http:
        cid = (await http.post(a.api_url + "/data", content=os.urandom(3 * 65536))).text
        clock.waits.clear()
        r = await http.get(f"{b.api_url}/data/{cid}/network/stream")
    assert r.status_code == 200
    # The manifest block, then the three blocks in runs: one wait per request A answered.
    assert a.requests["served"] >= 2
    assert clock.waits == [0.05] * a.requests["served"]


def within(measured: float, expected: float) -> bool:
    return 0.8 * expected <= measured <= 1.2 * expected


async def test_real_nodes_honour_the_rates(codex_node_factory: NodeFactory) -> None:
    """Bytes over real (bounded) time on short transfers: each rate within 20%."""
    rate = 2 * MiB  # 1 s per transfer: the fixed cost of starting one is small beside it
    profile = PerformanceProfile(
        name="test",
        upload_bytes_per_s=rate,
        exchange_bytes_per_s=rate,
        local_read_bytes_per_s=rate,
    )
    size = 2 * MiB
    data = os.urandom(size)
    a = await codex_node_factory("a", profile=profile)
    b = await codex_node_factory("b", bootstrap=[a.spr])
    c = await codex_node_factory("c", bootstrap=[a.spr])

    async def timed(request: Awaitable[httpx.Response]) -> tuple[httpx.Response, float]:
        started = time.perf_counter()
        response = await request
        return response, time.perf_counter() - started

    async with httpx.AsyncClient(timeout=30) as http:
        r, seconds = await timed(http.post(a.api_url + "/data", content=data))
        assert r.status_code == 200
        cid = r.text
        rates = {"upload": size / seconds}

        r, seconds = await timed(http.get(f"{a.api_url}/data/{cid}"))
        assert r.content == data
        rates["local read"] = size / seconds

        # Per peer connection: B and C each get the exchange rate from A at the same time.
        # They fetch different datasets: with the same one they would trade blocks and each
        # finish sooner than A's rate alone allows.
        other = os.urandom(size)
        other_cid = (await http.post(a.api_url + "/data", content=other)).text
        both = [
            timed(http.get(f"{node.api_url}/data/{wanted}/network/stream"))
            for node, wanted in ((b, cid), (c, other_cid))
        ]
        results = await asyncio.gather(*both)
        for (r, seconds), name, expected in zip(results, "bc", (data, other), strict=True):
            assert r.content == expected
            rates[f"exchange to {name}"] = size / seconds
    assert all(within(measured, rate) for measured in rates.values()), {
        name: f"{measured / MiB:.2f} MiB/s" for name, measured in rates.items()
    }
    assert BURST_BYTES < 0.05 * size  # the burst does not hide the rate


async def test_codex_node_profile_flag(codex_process: ProcessFactory, tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text('name = "mine"\nexchange_bytes_per_s = 1e7\n')
    for profile, name in (("measured-2026-11", "measured-2026-11"), (str(path), "mine")):
        proc = await codex_process(f"p-{name}", "--profile", profile)
        base = proc.api_url.split("/api/")[0]  # type: ignore[attr-defined]
        async with httpx.AsyncClient() as http:
            stats = (await http.get(base + "/_local/v1/stats")).json()
        assert stats == {"profile": name, "served": {}, "received": {}, "requests": {}}
