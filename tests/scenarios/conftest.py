"""A small shaped scenario run once for the tests that read its report."""

from __future__ import annotations

from pathlib import Path

import pytest
from archive_service_cli.scenario import HistoryShape, Scenario, Shaping
from archive_service_cli.swarm import ScenarioOutcome, run_scenario

BACKENDS = ("torrent", "logos-storage")
# 3 weekly archives, about 2.2 MB: with the owner at 8 Mbit/s the owner-uplink bound is ~2 s,
# well above the noise of process start-up.
SMALL_HISTORY = HistoryShape(messages=3000, days=21, topics=3, seed=7)


# Two weekly archives (about 0.3 MB), unshaped: runs of it take about process start-up.
TINY_HISTORY = HistoryShape(messages=600, days=14, topics=2, seed=3)


def tiny_scenario(**changes: object) -> Scenario:
    unshaped = {"history": TINY_HISTORY, "shaping": Shaping(engine="application")}
    return small_scenario(**{**unshaped, **changes})


def small_scenario(**changes: object) -> Scenario:
    base = {
        "name": "three-shaped",
        "members": 3,
        "shaping": Shaping(
            owner_uplink=8_000_000,
            member_uplink=16_000_000,
            member_downlink=40_000_000,
            engine="application",
        ),
        "history": SMALL_HISTORY,
    }
    base.update(changes)
    return Scenario(**base).check()  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def shaped_outcome(tmp_path_factory: pytest.TempPathFactory) -> ScenarioOutcome:
    out: Path = tmp_path_factory.mktemp("shaped")
    return run_scenario(small_scenario(), backends=BACKENDS, out=out, timeout=90)
