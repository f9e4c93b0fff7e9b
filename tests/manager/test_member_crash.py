"""kill -9 of a member node while it imports (the embedded importer, real SQLite, real archive
codec): whatever the moment, an archive marked imported has every message stored, an archive
not marked has none of them, and the next start imports the rest, ending with the owner's
message set. Kill points are seeded and awaited on the child's marker lines (no sleeps)."""

from __future__ import annotations

import hashlib
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from scripted import T0, WEEK, member_community

from archive_service.archives import build_archives, messages_from_list
from archive_service.manager.owner import community_topics
from archive_service.store import Community, Store
from archive_service.types import StoredMessage

pytestmark = pytest.mark.timeout(300)

ARCHIVES = 3
PER_ARCHIVE = 12_000  # ~15 MB an archive: its insert spills past the page cache before COMMIT
CHILD = Path(__file__).with_name("member_import_child.py")


def history(community: Community) -> list[StoredMessage]:
    (topic,) = community_topics(community)
    step = WEEK // PER_ARCHIVE
    out = []
    for i in range(ARCHIVES * PER_ARCHIVE):
        h = hashlib.sha256(b"crash/%d" % i).digest()
        out.append(StoredMessage(h * 2 + b"s", T0 + i * step, topic, h * 32, b"", h, ""))
    return out


def prepare(data_dir: Path, community: Community, stored: list[StoredMessage]) -> dict[str, set]:
    """A member store with every archive downloaded and none imported; returns each
    archive's message hashes."""
    (data_dir / "archives").mkdir(parents=True)
    built = build_archives(
        messages_from_list(stored),
        community_topics(community),
        T0,
        T0 + ARCHIVES * WEEK,
        WEEK,
        encrypt=None,
    )
    by_archive: dict[str, set] = {}
    with Store(data_dir / "member.sqlite") as store:
        store.save_community(community)
        for archive in built:
            archive_id = "0x" + hashlib.sha256(archive.data).hexdigest()
            (data_dir / "archives" / archive_id).write_bytes(archive.data)
            store.save_archive_id(
                community.id,
                archive_id,
                backend="scripted",
                from_ts=archive.metadata.from_ts,
                to_ts=archive.metadata.to_ts,
            )
            window = range(archive.metadata.from_ts, archive.metadata.to_ts)
            by_archive[archive_id] = {m.hash for m in stored if m.timestamp in window}
    assert len(by_archive) == ARCHIVES
    return by_archive


def run_child(data_dir: Path, community: Community, kill_at: int | None) -> list[str]:
    """Run the member until its `kill_at`-th marker line, then SIGKILL it (None: to the end)."""
    tests = str(Path(__file__).resolve().parent)
    env_path = [tests, str(Path(tests).parent)]
    with subprocess.Popen(
        [sys.executable, str(CHILD), str(data_dir), community.id.hex()],
        stdout=subprocess.PIPE,
        text=True,
        env={"PYTHONPATH": ":".join(env_path), "PATH": ""},
    ) as child:
        assert child.stdout is not None
        lines: list[str] = []
        while kill_at is None or len(lines) < kill_at:
            line = child.stdout.readline()
            if not line:
                break
            lines.append(line.strip())
        if kill_at is None:
            assert child.wait(timeout=120) == 0, lines
            assert lines[-1] == "idle"
        else:
            assert len(lines) == kill_at, f"the child ended before marker {kill_at}: {lines}"
            child.send_signal(signal.SIGKILL)
            assert child.wait(timeout=30) == -signal.SIGKILL
    return lines


def check_whole(data_dir: Path, community: Community, by_archive: dict[str, set]) -> int:
    """Every archive is either marked and fully stored, or unmarked with nothing stored."""
    with Store(data_dir / "member.sqlite", create=False) as store:
        stored = store.message_hashes()
        marked = {a.archive_id for a in store.downloaded_archives(community.id) if a.imported}
    for archive_id, hashes in by_archive.items():
        held = len(hashes & stored)
        if archive_id in marked:
            assert held == len(hashes), f"{archive_id} marked with {held}/{len(hashes)} stored"
        else:
            assert held == 0, f"{archive_id} not marked, yet {held} of its messages stored"
    return len(marked)


def test_a_member_killed_mid_import_never_marks_what_it_did_not_store(tmp_path: Path) -> None:
    community = member_community()
    stored = history(community)
    rng = random.Random(1114)
    # Markers: importing a1, imported a1, importing a2, ... (2 per archive); kill at 3 of them.
    points = sorted(rng.sample(range(1, 2 * ARCHIVES + 1), 3))
    marked_counts = []
    for point in points:
        data_dir = tmp_path / f"kill-{point}"
        by_archive = prepare(data_dir, community, stored)
        lines = run_child(data_dir, community, point)
        marked_counts.append(check_whole(data_dir, community, by_archive))
        # Killed right after an `imported` marker: that archive is committed.
        if lines[-1].startswith("imported"):
            assert marked_counts[-1] >= sum(line.startswith("imported") for line in lines)
        run_child(data_dir, community, None)  # the next start finishes the import
        assert check_whole(data_dir, community, by_archive) == ARCHIVES
        with Store(data_dir / "member.sqlite", create=False) as store:
            assert store.message_hashes() == {m.hash for m in stored}
            assert store.count_waku_messages() == len(stored)
