"""benchmarks/codex_profile.py, with tiny sizes: against two nodes given by URL, and against
the two simulator nodes it starts itself. The profile it writes loads."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from archive_service_codex_node import LocalCodexNode
from archive_service_codex_node.profile import load_profile

ClusterFactory = Callable[..., Awaitable[list[LocalCodexNode]]]
SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "codex_profile.py"


async def run_benchmark(*args: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(SCRIPT), "--mib", "0.0625", "0.25", "--repeat", "1", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, output.decode()
    assert b"wrote " in output


def check_outputs(out: Path, name: str) -> None:
    profile = load_profile(out / "codex_profile.toml")
    assert profile.name == name
    for rate in (
        profile.upload_bytes_per_s,
        profile.exchange_bytes_per_s,
        profile.local_read_bytes_per_s,
    ):
        assert rate is not None and rate > 0
    assert profile.request_latency_s > 0
    result = json.loads((out / "codex_profile.json").read_text())
    assert set(result["figures"]) == {"upload", "network transfer", "local read", "request latency"}
    assert len(result["samples"]["upload"]) == 2  # two sizes, one repetition
    assert result["connect_problem"] == ""
    assert "| network transfer |" in (out / "codex_profile.md").read_text()


async def test_against_two_nodes_by_url(codex_cluster: ClusterFactory, tmp_path: Path) -> None:
    a, b = await codex_cluster(2, link=None)  # the benchmark connects B to A itself
    await run_benchmark(
        a.api_url, f"http://{b.host}:{b.port}", "--name", "mine", "--out", str(tmp_path)
    )
    check_outputs(tmp_path, "mine")
    assert a.peer_id in b.network.peers


async def test_against_two_simulator_nodes_it_starts(tmp_path: Path) -> None:
    await run_benchmark("--sim-profile", "unthrottled", "--out", str(tmp_path))
    check_outputs(tmp_path, "simulator-unthrottled")
