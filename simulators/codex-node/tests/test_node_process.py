"""The local node as a subprocess: readiness line, clean SIGTERM, busy port, a node killed in
the middle of a stream and restarted, bounded memory while streaming big datasets."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from archive_service_codex.cid import compute_manifest
from archive_service_codex_node import LocalCodexNode
from archive_service_codex_node.process import NodeProcess

ProcessFactory = Callable[..., Awaitable[NodeProcess]]
NodeFactory = Callable[..., Awaitable[LocalCodexNode]]
MiB = 2**20


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


def pattern(size: int, seed: int = 0) -> bytes:
    """Incompressible-looking, reproducible bytes (not all-equal blocks, so no dedup)."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(seed.to_bytes(4, "big") + counter.to_bytes(8, "big")).digest() * 2048
        counter += 1
    return bytes(out[:size])


async def upload_pattern(http: httpx.AsyncClient, api_url: str, seed: int) -> tuple[bytes, str]:
    """24 MiB of `pattern` uploaded through `api_url`: the data and its CID."""
    data = pattern(24 * MiB, seed=seed)
    return data, (await http.post(api_url + "/data", content=data)).text


def high_water_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


async def test_ready_line_and_clean_sigterm(
    codex_process: ProcessFactory, http: httpx.AsyncClient
) -> None:
    proc = await codex_process("p")
    assert proc.api_url.startswith("http://127.0.0.1:") and proc.api_url.endswith("/api/codex/v1")
    assert proc.peer_id.startswith("16Uiu2") and proc.spr.startswith("spr:")
    r = await http.post(proc.api_url + "/data", content=b"some file contents")
    assert r.text == "zDvZRwzm1ePSzKSXt57D5YxHwcSDmsCyYN65wW4HT7fuX9HrzFXy"
    assert proc.terminate() == 0
    assert proc.proc is not None and proc.proc.stdout is not None


def test_busy_port_exits_non_zero_with_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "archive_service_codex_node", "--data-dir", str(tmp_path / "d"),
             "--api-port", str(port)],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: cannot start the local Codex node: 127.0.0.1:{port} is already in use; "
        "choose another --api-port or stop the process using it"
    ]
    assert "Traceback" not in result.stderr
    assert "REST service started" not in result.stdout


async def read_some_then_stop(http: httpx.AsyncClient, url: str, stop: Callable[[], None]) -> int:
    """Stream `url`, call `stop` after the first piece, return how many bytes arrived."""
    received = 0
    with pytest.raises(httpx.HTTPError):  # the connection drops before Content-Length bytes
        async with http.stream("GET", url) as r:
            assert r.status_code == 200
            async for piece in r.aiter_bytes():
                if received == 0:
                    stop()
                received += len(piece)
    return received


async def test_serving_peer_killed_mid_stream_then_restarted(
    codex_process: ProcessFactory, codex_node_factory: NodeFactory, http: httpx.AsyncClient
) -> None:
    owner = await codex_process("owner")
    data, cid = await upload_pattern(http, owner.api_url, seed=1)
    member = await codex_node_factory("member", bootstrap=[owner.spr])

    url = f"{member.api_url}/data/{cid}/network/stream"
    received = await read_some_then_stop(http, url, owner.kill)
    assert 0 < received < len(data)

    await owner.astart()  # same port, same data dir
    r = await http.get(url)
    assert r.status_code == 200
    assert r.content == data
    r = await http.get(f"{member.api_url}/data/{cid}")  # all kept locally now
    assert r.content == data


async def test_streaming_node_killed_mid_stream_keeps_what_it_fetched(
    codex_process: ProcessFactory, codex_node_factory: NodeFactory, http: httpx.AsyncClient
) -> None:
    owner = await codex_node_factory("owner")
    data, cid = await upload_pattern(http, owner.api_url, seed=2)
    member = await codex_process("member", "--bootstrap-node", owner.spr)

    received = await read_some_then_stop(
        http, f"{member.api_url}/data/{cid}/network/stream", member.kill
    )
    assert 0 < received < len(data)

    await member.astart()
    kept = (await http.get(member.api_url + "/space")).json()
    # Whatever was fetched before the crash is intact and counted; the rest comes now.
    assert 1 <= kept["totalBlocks"] < 24 * 16 + 1
    manifest_len = len(compute_manifest(data).encoded)
    assert kept["quotaUsedBytes"] == (kept["totalBlocks"] - 1) * 65536 + manifest_len
    r = await http.get(f"{member.api_url}/data/{cid}/network/stream")
    assert r.content == data


async def test_memory_stays_flat_for_a_large_dataset(
    codex_process: ProcessFactory, http: httpx.AsyncClient
) -> None:
    proc = await codex_process("big")
    assert proc.proc is not None
    size = 96 * MiB
    digest = hashlib.sha256()

    async def body() -> AsyncIterator[bytes]:
        for i in range(size // MiB):
            piece = pattern(MiB, seed=100 + i)
            digest.update(piece)
            yield piece

    baseline = high_water_rss(proc.proc.pid)
    r = await http.post(proc.api_url + "/data", content=body())
    assert r.status_code == 200
    downloaded = hashlib.sha256()
    async with http.stream("GET", f"{proc.api_url}/data/{r.text}") as resp:
        async for piece in resp.aiter_bytes():
            downloaded.update(piece)
    assert downloaded.digest() == digest.digest()
    growth = high_water_rss(proc.proc.pid) - baseline
    assert growth < 24 * MiB, (
        f"peak RSS grew by {growth / MiB:.1f} MiB for a {size // MiB} MiB dataset"
    )
