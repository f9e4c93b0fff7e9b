"""Interop with an independent BitTorrent client: aria2c (Debian's `aria2`, installed by
.ci/run) downloads a torrent seeded by this backend, byte-identically, by `.torrent` and by
magnet (metadata over ut_metadata from libtorrent). Everything stays on 127.0.0.1: aria2 has
DHT, LPD, PEX and trackers off and binds to loopback; our seeder dials it over TCP (aria2
speaks no uTP and we run no tracker, libtorrent.md §5)."""

from __future__ import annotations

import asyncio
import shutil
import socket
from pathlib import Path

import pytest

from .conftest import COMMUNITY, T0, WEEK, Side, publish_and_seed, week_messages

ARIA2C = shutil.which("aria2c")
pytestmark = pytest.mark.skipif(
    ARIA2C is None, reason="aria2c not installed (CI installs it: apt-get install -y aria2)"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def aria2_download(owner: Side, source: str, out: Path) -> None:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        ARIA2C or "aria2c",
        "--interface=127.0.0.1",
        "--disable-ipv6=true",
        "--enable-dht=false",
        "--enable-dht6=false",
        "--bt-enable-lpd=false",
        "--enable-peer-exchange=false",
        "--bt-exclude-tracker=*",
        "--bt-tracker-connect-timeout=1",
        "--bt-tracker-timeout=1",
        "--seed-time=0",
        "--bt-stop-timeout=60",
        "--file-allocation=none",
        "--console-log-level=warn",
        "--summary-interval=0",
        f"--listen-port={port}",
        f"--dir={out}",
        source,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with asyncio.timeout(60):
            wait = asyncio.ensure_future(proc.wait())
            # aria2 cannot find us (no tracker, no DHT): dial it, again until it is done.
            while not wait.done():
                owner.backend.connect_peer(COMMUNITY, "127.0.0.1", port)
                await asyncio.wait({wait}, timeout=0.5)
            output = (await proc.stdout.read()).decode(errors="replace") if proc.stdout else ""
            assert proc.returncode == 0, output
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


@pytest.mark.parametrize("by", ["torrent", "magnet"])
async def test_aria2_downloads_our_seed_byte_identically(
    make_side, tmp_path: Path, by: str
) -> None:
    owner = await make_side("owner", outgoing_utp=False)
    result = await publish_and_seed(owner, week_messages(0) + week_messages(1), T0, T0 + 2 * WEEK)
    paths = owner.backend.paths(COMMUNITY)
    source = str(paths.torrent) if by == "torrent" else result.link
    out = tmp_path / "aria2"
    out.mkdir()

    await aria2_download(owner, source, out)

    got = out / paths.name
    assert sorted(p.name for p in got.iterdir()) == ["data", "index"]
    assert (got / "data").read_bytes() == paths.data.read_bytes()
    assert (got / "index").read_bytes() == paths.index.read_bytes()
