"""The member killed with SIGKILL during `fetch --join --yes --message M` (BitTorrent from the
owner's `seed`, Codex through a second local node), then resumed as a user would: the same
command, or a bare node start. At the crash, an archive marked imported has its whole window
stored; after the resume, the owner's message set, no row twice, every archive imported, no
temporary file left.

CI runs one seeded point per backend: BitTorrent in the download, resumed by the same command;
Codex in the import, resumed by a node start. benchmarks/crash_campaign.py runs hundreds
(`harness.py` says how a point is reached)."""

from __future__ import annotations

import os
from pathlib import Path

import harness
import pytest

pytestmark = pytest.mark.timeout(300)

SEED = int(os.environ.get("CRASH_SEED", "11"))
MESSAGES, DAYS = 1000, 21  # 3 weekly archives: both phases, a short run


@pytest.mark.parametrize(
    ("backend", "phase", "restart"),
    [("torrent", "download", "fetch"), ("codex", "import", "start")],
)
def test_a_member_killed_mid_fetch_resumes_to_the_clean_run(
    tmp_path: Path, backend: str, phase: str, restart: str
) -> None:
    with harness.MemberScenario(tmp_path, backend, messages=MESSAGES, days=DAYS) as member:
        member.clean()
        steps = member.points_in(phase)
        assert steps, member.steps
        (index,) = harness.pick_points(len(steps), 1, SEED)
        outcome = member.point(steps[index - 1], restart)
    assert outcome.killed, outcome
    assert outcome.survived, f"point {outcome.point} ({outcome.step}): {outcome.differences}"


def test_a_member_killed_before_its_first_archive_is_recorded_resumes_at_node_start(
    tmp_path: Path,
) -> None:
    """The link is accepted (its clock stored) but nothing is recorded yet: a bare node start
    must still run it, from the accepted link the store keeps (campaign points 9-15)."""
    with harness.MemberScenario(tmp_path, "torrent", messages=MESSAGES, days=DAYS) as member:
        member.clean()
        first = member.steps.index("before store.save_archive_id") + 1
        outcome = member.point(first, "start")
    assert outcome.killed, outcome
    assert outcome.survived, f"point {outcome.point} ({outcome.step}): {outcome.differences}"
