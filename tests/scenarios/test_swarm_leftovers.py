"""What an earlier run left in the data dirs: a scenario starts from nothing, and an owner whose
backend already holds the committed history publishes it (real nodes, real processes)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from archive_service_cli.compare import CompareSettings, History, prepare_history
from archive_service_cli.scenario import Scenario
from archive_service_cli.shaping import plan_engine
from archive_service_cli.swarm import run_scenario, run_swarm

from archive_service.store import Store
from scenarios.conftest import BACKENDS, TINY_HISTORY, tiny_scenario


def tiny_history(work: Path) -> History:
    return prepare_history(CompareSettings(history=TINY_HISTORY), work, lambda _text: None)


def swarm(scenario: Scenario, backend: str, history: History, out: Path) -> dict[str, Any]:
    """One run over `out/work`, its nodes' data left there as an interrupted scenario leaves
    them."""
    plan = plan_engine(scenario.shaping)
    return run_swarm(scenario, backend, history, out / "work", out / "logs", plan, timeout=60)


def member_fetched_everything(run: dict[str, Any]) -> None:
    assert run["archives"] == 2
    for member in run["members"]:
        assert member["completed"], member["reason"]
        assert member["downloaded"] >= run["archive_bytes"]


@pytest.mark.timeout(150)
@pytest.mark.parametrize("backend", BACKENDS)
def test_what_an_interrupted_run_left_neither_hides_nor_stales_the_history(
    tmp_path: Path, backend: str
) -> None:
    scenario = tiny_scenario(name="leftovers", members=1)
    history = tiny_history(tmp_path / "work")
    first = swarm(scenario, backend, history, tmp_path)
    member_fetched_everything(first)

    # The owner's data dir keeps the committed history; the member starts afresh. Nothing is
    # new to create: the owner announces what its backend holds, whole.
    shutil.rmtree(tmp_path / "work" / backend / "member1")
    again = swarm(scenario, backend, history, tmp_path)
    member_fetched_everything(again)
    assert again["archive_bytes"] == first["archive_bytes"]

    # Its store may even say that link was announced already (so the start announces nothing):
    # the owner announces it again.
    owner_db = tmp_path / "work" / backend / "owner" / "archive-service.sqlite"
    community_id = history.community.id
    with Store(owner_db) as owner_store, Store(history.db) as history_store:
        announced = owner_store.get_archive_link(community_id, backend)
        history_store.set_archive_link(community_id, backend, announced.link)
        history_store.set_archive_link_clock(community_id, backend, announced.clock)
    shutil.rmtree(tmp_path / "work" / backend / "member1")
    known = swarm(scenario, backend, history, tmp_path)
    member_fetched_everything(known)
    assert known["archive_bytes"] == first["archive_bytes"]

    # A scenario run in that out dir starts from nothing: its member fetches everything.
    outcome = run_scenario(scenario, backends=[backend], out=tmp_path, timeout=60)
    (run,) = outcome.report["runs"]
    member_fetched_everything(run)
    assert run["archive_bytes"] == first["archive_bytes"]
    assert not (tmp_path / "work").exists()
