"""The kernel shaping engine: every node in its own network namespace on a bridge, shaped
with tbf. Runs only as root on Linux with `ip` and `tc`; skipped with the reason otherwise."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from archive_service_cli.scenario import Shaping
from archive_service_cli.shaping import PREFIX, clean_stale, namespace_support, run_namespaces
from archive_service_cli.swarm import run_scenario

from scenarios.conftest import BACKENDS, small_scenario

UNSUPPORTED = namespace_support()
pytestmark = pytest.mark.skipif(
    UNSUPPORTED is not None, reason=f"namespace engine unavailable: {UNSUPPORTED}"
)


def own_namespaces() -> list[str]:
    return [n for n in run_namespaces() if n.startswith(f"{PREFIX}-{os.getpid()}-")]


def test_stale_namespaces_of_dead_runs_are_removed() -> None:
    stale = f"{PREFIX}-999999999-n1"  # no such pid
    subprocess.run(["ip", "netns", "add", stale], check=True)
    try:
        assert stale in clean_stale()
        assert stale not in run_namespaces()
    finally:
        subprocess.run(["ip", "netns", "delete", stale], check=False, capture_output=True)


@pytest.mark.timeout(150)
def test_nodes_run_in_their_own_shaped_namespaces(tmp_path: Path) -> None:
    scenario = small_scenario(
        name="namespaces",
        members=2,
        shaping=Shaping(
            owner_uplink=8_000_000, member_downlink=40_000_000, latency_ms=5, engine="namespace"
        ),
    )
    outcome = run_scenario(scenario, backends=BACKENDS, out=tmp_path, timeout=60)
    for run in outcome.report["runs"]:
        assert run["engine"] == "namespace"
        assert run["summary"]["completed"] == 2, run["summary"]["never_completed"]
        assert all(m["address"].startswith("10.213.") for m in run["members"])
        # tbf shapes the owner's veth: the bound holds in the kernel too.
        assert run["summary"]["all_complete_s"] >= 0.8 * run["owner_uplink_bound_s"]
        # This kernel has no netem: the report says latency was not applied (or it was).
        assert all("latency" in n for n in run["not_applied"])
    assert own_namespaces() == []
