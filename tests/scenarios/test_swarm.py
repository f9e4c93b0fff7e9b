"""Scenarios end to end: owner and members as real processes (real libtorrent sessions, real
local Codex nodes) with the application-level shaping engine."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from archive_service_cli.swarm import Final, Finished, ScenarioOutcome, _present, run_scenario

from scenarios.conftest import BACKENDS, small_scenario, tiny_scenario


def runs_by_backend(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {run["backend"]: run for run in report["runs"]}


@pytest.mark.timeout(150)
@pytest.mark.parametrize("backend", BACKENDS)
def test_three_shaped_members_complete(shaped_outcome: ScenarioOutcome, backend: str) -> None:
    run = runs_by_backend(shaped_outcome.report)[backend]
    summary = run["summary"]
    assert run["engine"] == "application"
    assert summary["completed"] == 3, summary["never_completed"]
    bound = run["owner_uplink_bound_s"]
    assert bound == pytest.approx(run["archive_bytes"] * 8 / 8_000_000)
    # The owner's uplink is honoured: nobody can have everything before the owner sent it once.
    assert summary["all_complete_s"] >= 0.8 * bound
    assert summary["owner_uploaded"] >= 0.9 * run["archive_bytes"]
    for member in run["members"]:
        assert member["first_import_s"] <= member["full_import_s"]
        assert member["stored"] >= run["archive_bytes"]
        assert member["left_s"] is None  # without churn, members serve until the run ends
    assert summary["wire_bytes"] >= summary["owner_uploaded"]
    assert shaped_outcome.report["codex_profile"] == "measured-2026-11"
    assert "sharing-and-performance-model" in shaped_outcome.report["model_link"]


@pytest.mark.timeout(150)
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_late_joiner_completes_from_the_members(tmp_path: Path, backend: str) -> None:
    scenario = small_scenario(
        name="late", members=2, owner_leaves="after-first-complete", late_joiners=1
    )
    outcome = run_scenario(scenario, backends=[backend], out=tmp_path, timeout=60)
    run = outcome.report["runs"][0]
    late = next(m for m in run["members"] if m["late"])
    assert run["summary"]["completed"] == 3, run["summary"]["never_completed"]
    assert run["owner"]["left_s"] is not None and late["joined_s"] > run["owner"]["left_s"]
    assert late["stored"] >= run["archive_bytes"]
    # What the late joiner got, the staying members served.
    served = sum(m["uploaded"] for m in run["members"] if not m["late"])
    assert served >= 0.9 * run["archive_bytes"]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("backend", BACKENDS)
def test_with_churn_members_leave_once_finished_and_the_others_still_complete(
    tmp_path: Path, backend: str
) -> None:
    scenario = tiny_scenario(name="churn", members=3, churn=True)
    outcome = run_scenario(scenario, backends=[backend], out=tmp_path, timeout=60)
    run = outcome.report["runs"][0]
    assert run["summary"]["completed"] == 3, run["summary"]["never_completed"]
    for member in run["members"]:
        # Its process ended while the run went on, after it had everything.
        assert member["left_s"] is not None, f"{member['name']} did not leave"
        assert member["left_s"] >= member["joined_s"] + member["full_import_s"]
        assert member["stored"] >= run["archive_bytes"]
    assert "; left at " in outcome.html_path.read_text()


def test_late_joiners_are_told_only_of_members_that_stay() -> None:
    def member(finished: bool, gone: bool = False) -> Any:
        outcome = Finished(True, "", 0.1, 0.2, "d") if finished else None
        final = Final(1, 1, 1) if gone else None
        return SimpleNamespace(finished=outcome, final=final, contact=("10.0.0.2", 6881))

    still_fetching, finished, gone = member(False), member(True), member(True, gone=True)
    with_churn, without = tiny_scenario(churn=True), tiny_scenario()
    assert _present(still_fetching, with_churn) and _present(still_fetching, without)
    assert _present(finished, without)
    assert not _present(finished, with_churn)  # it is leaving
    assert not _present(gone, without)
