"""The owner killed with SIGKILL during `create` (BitTorrent, Codex, both side by side), then
the same command again: the result is the clean run's (same archive IDs and windows, same
links, no window twice, the announced link stored, no temporary file left).

CI runs the points the issue found broken plus one seeded random point per scenario;
benchmarks/crash_campaign.py runs hundreds (`harness.py` says how a point is reached)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import harness
import pytest

pytestmark = pytest.mark.timeout(300)

SEED = int(os.environ.get("CRASH_SEED", "11"))
END_DATE = "before store.set_last_archive_end_date"  # every backend committed, store behind
ANNOUNCE = "before store.set_archive_link"  # the end date stored, the link not announced
TORRENT_COMMITTED = "after rename <id>.torrent"  # BitTorrent committed, Codex not yet


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("crash")


@pytest.fixture(scope="module")
def store(work: Path) -> Path:
    return harness.generate(work / "generated" / "archive-service.sqlite")


@pytest.fixture(scope="module")
def codex_url(work: Path) -> Iterator[str]:
    with harness.codex_node(work / "codex-node") as url:
        yield url


def scenario(
    work: Path, store: Path, backends: list[str], codex_url: str | None
) -> harness.Scenario:
    s = harness.Scenario(work / "-".join(backends), backends, codex_url=codex_url, store=store)
    total = s.clean()
    assert total > 10, s.steps
    return s


def check(s: harness.Scenario, points: list[int]) -> None:
    outcomes = [s.point(n) for n in points]
    failed = [o for o in outcomes if not o.survived]
    assert not failed, "\n".join(f"point {o.point} ({o.step}): {o.differences}" for o in failed)
    assert all(o.killed for o in outcomes), [(o.point, o.killed) for o in outcomes]


def test_torrent_create_killed(work: Path, store: Path) -> None:
    s = scenario(work, store, ["torrent"], None)
    (random_point,) = harness.pick_points(len(s.steps), 1, SEED)
    check(s, [s.first_step(END_DATE), random_point])


def test_codex_create_killed(work: Path, store: Path, codex_url: str) -> None:
    s = scenario(work, store, ["codex"], codex_url)
    (random_point,) = harness.pick_points(len(s.steps), 1, SEED)
    check(s, [s.first_step(ANNOUNCE), random_point])


def test_both_backends_create_killed_between_their_commits(
    work: Path, store: Path, codex_url: str
) -> None:
    s = scenario(work, store, ["torrent", "codex"], codex_url)
    (random_point,) = harness.pick_points(len(s.steps), 1, SEED)
    check(s, [s.first_step(TORRENT_COMMITTED), random_point])
