"""The owner's data dir under pressure, through the real CLI in subprocesses (issue #11 items
5, 8, 9): a full disk, two writers at once, `create` while `seed` runs, a tampered link."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_process import CLI, LOOPBACK_TORRENT, Background, hold_in_child, run

from archive_service.crypto.signing import generate_community_key, sign_archive_link
from archive_service.ids import community_hex
from archive_service.wire import app_pb, pb

pytestmark = pytest.mark.timeout(300)

DAY = 24 * 3600
TORRENT_ONLY = ["--backends", "torrent", "--set", 'owner.distribution=["torrent"]']


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert len(lines) == 1, result.stderr
    return lines[0]


def generate(db: Path, messages: int, days: int) -> None:
    """A history that ends now, so `create` without --to archives all of it."""
    start = int(time.time()) - days * DAY
    run("generate", "--db", db, "--messages", messages, "--days", days, "--start-ts", start)


def message_hashes(db: Path) -> set[str]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return {h for (h,) in conn.execute("SELECT hash FROM waku_messages")}


def torrent_entries(data_dir: Path) -> list[tuple[int, int]]:
    (index,) = (data_dir / "torrent" / "archivedata").glob("0x*/index")
    decoded = pb.WakuMessageArchiveIndex.FromString(index.read_bytes())
    return sorted((getattr(e.metadata, "from"), e.metadata.to) for e in decoded.archives.values())


# --- disk full (item 5) -------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs mounted in the test's tmp dir; skipped where mounting is not allowed."""
    if sys.platform != "linux" or os.geteuid() != 0:
        pytest.skip("needs root on Linux to mount a small tmpfs")
    disk = tmp_path / "small"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def test_a_full_disk_during_create_is_one_line_and_the_state_stays_correct(
    tmp_path: Path, small_disk: Path
) -> None:
    generate(tmp_path / "gen" / "archive-service.sqlite", 1500, 21)  # ~1.5 MB of 2 MiB
    shutil.copy(tmp_path / "gen" / "archive-service.sqlite", small_disk)
    config = tmp_path / "loopback.toml"
    config.write_text(LOOPBACK_TORRENT)

    full = run("create", "-d", small_disk, "-c", config, *TORRENT_ONLY, check=False)
    line = one_line_error(full)
    assert "no space left on device while writing" in line, line
    assert str(small_disk) in line and "--data-dir" in line
    # Nothing was published and no end date stored: the store says no archive exists yet.
    with contextlib.closing(sqlite3.connect(small_disk / "archive-service.sqlite")) as conn:
        assert conn.execute("SELECT COUNT(*) FROM waku_messages").fetchone() == (1500,)
    assert not list(small_disk.glob("outbox/*.msg"))

    # With room again, the same command archives the whole history once.
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    created = run("create", "-d", small_disk, "-c", config, *TORRENT_ONLY)
    assert "magnet:?xt=urn:btih:" in created.stdout
    windows = torrent_entries(small_disk)
    assert len(windows) == len(set(windows)) == 3  # three weekly windows, none twice


# --- one writer per data dir (item 8) -----------------------------------------------------


def test_a_second_writer_is_refused_naming_the_first(tmp_path: Path) -> None:
    owner = tmp_path / "owner"
    generate(owner / "archive-service.sqlite", 200, 14)
    holder = hold_in_child(owner)
    try:
        for command in ("create", "migrate"):
            line = one_line_error(run(command, "-d", owner, *TORRENT_ONLY, check=False))
            assert f"data dir {owner} is held by pid {holder.pid}" in line, line
            assert "(archive-service create -d owner)" in line
        fetch = run("fetch", "-d", owner, "--message", "/nonexistent", check=False)
        assert "cannot read" in one_line_error(fetch)  # bad input is still named first
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=10)
    assert torrent_entries_or_none(owner) is None  # the refused writers touched nothing


def torrent_entries_or_none(data_dir: Path) -> list[tuple[int, int]] | None:
    if not list((data_dir / "torrent" / "archivedata").glob("0x*/index")):
        return None
    return torrent_entries(data_dir)


def test_two_creates_at_once_publish_each_window_once(tmp_path: Path) -> None:
    owner = tmp_path / "owner"
    generate(owner / "archive-service.sqlite", 3000, 28)
    config = tmp_path / "loopback.toml"
    config.write_text(LOOPBACK_TORRENT)
    args = [*CLI, "create", "-d", str(owner), "-c", str(config), *TORRENT_ONLY]
    both = [
        subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [(p.wait(timeout=240), *p.communicate()) for p in both]
    for code, _out, err in results:
        assert "Traceback" not in err, err
        if code != 0:  # refused by the lock, or (when it ran after the other) nothing left
            assert "is held by pid" in err or "nothing to archive" in err, err
    assert any(code == 0 for code, _, _ in results), results
    windows = torrent_entries(owner)
    assert len(windows) == len(set(windows)) and len(windows) >= 4  # every window once


def test_create_while_seed_runs_is_seeded_by_the_daemon_and_fetched(tmp_path: Path) -> None:
    owner, member = tmp_path / "owner", tmp_path / "member"
    generate(owner / "archive-service.sqlite", 2000, 21)
    config = tmp_path / "loopback.toml"
    config.write_text(LOOPBACK_TORRENT)
    # The first two weeks now, the rest by a `create` while the daemon seeds. A 30-day
    # interval keeps the daemon itself from archiving: only the other process writes.
    interval = ["--set", f"owner.interval={30 * DAY}"]
    first_part = str(int(time.time()) - 7 * DAY)
    run("create", "-d", owner, "-c", config, *TORRENT_ONLY, *interval, "--to", first_part)

    daemon = Background("seed", "-d", owner, "-c", config, "--backends", "torrent", *interval)
    try:
        daemon.wait_for("links announced again; Ctrl-C stops")
        second = run("seed", "-d", owner, "-c", config, "--backends", "torrent", check=False)
        assert "held by pid" in one_line_error(second)  # one daemon per data dir

        run("create", "-d", owner, "-c", config, *TORRENT_ONLY, *interval)
        daemon.wait_for("links announced again from this seeder")
        assert daemon.proc.poll() is None  # still running

        (message,) = (owner / "outbox").glob("*-torrent.msg")
        shown = json.loads(run("inspect", message, "--json").stdout)
        fetched = run(
            "fetch",
            "-d",
            member,
            "-c",
            config,
            "--backends",
            "torrent",
            "--join",
            "--community",
            shown["community_id"],
            "--message",
            message,
        )
        assert "imported 2,000 new messages" in fetched.stdout, fetched.stdout
        assert message_hashes(member / "archive-service.sqlite") == message_hashes(
            owner / "archive-service.sqlite"
        )
    finally:
        code = daemon.stop()
    assert code == 0, "".join(daemon.lines)
    windows = torrent_entries(owner)
    assert len(windows) == len(set(windows))


# --- a tampered link message (item 9) -------------------------------------------------------


def test_a_tampered_link_message_is_not_joined(tmp_path: Path) -> None:
    private, community = generate_community_key()
    signed = app_pb.ApplicationMetadataMessage.FromString(
        sign_archive_link(private, 5, "magnet:?xt=urn:btih:" + "00" * 20)
    )
    link = pb.CommunityMessageArchiveLink.FromString(signed.payload)
    link.clock += 1  # the signature now recovers to some other key
    signed.payload = link.SerializeToString()
    tampered = tmp_path / "tampered.msg"
    tampered.write_bytes(signed.SerializeToString())
    member = tmp_path / "member"

    unconfirmed = one_line_error(
        run("fetch", "-d", member, "-b", "torrent", "--join", "--message", tampered, check=False)
    )
    assert "signed by community 0x" in unconfirmed and "--community" in unconfirmed
    assert community_hex(community) not in unconfirmed  # it recovered to another key

    wrong = run(
        "fetch",
        "-d",
        member,
        "-b",
        "torrent",
        "--join",
        "--community",
        community_hex(community),
        "--message",
        tampered,
        check=False,
    )
    assert f"not by the community key {community_hex(community)}" in one_line_error(wrong)
    with contextlib.closing(sqlite3.connect(member / "archive-service.sqlite")) as conn:
        assert conn.execute("SELECT COUNT(*) FROM communities").fetchone() == (0,)


def test_the_daemon_runs_its_own_interval_and_a_writer_holding_the_dir_delays_it(
    tmp_path: Path,
) -> None:
    owner = tmp_path / "owner"
    generate(owner / "archive-service.sqlite", 300, 14)
    config = tmp_path / "loopback.toml"
    config.write_text(LOOPBACK_TORRENT)
    run("create", "-d", owner, "-c", config, *TORRENT_ONLY)
    holder = hold_in_child(owner)
    daemon = Background(
        "seed", "-d", owner, "-c", config, "--backends", "torrent", "--set", "owner.interval=2"
    )
    try:
        daemon.wait_for(f"waiting for pid {holder.pid} (archive-service create -d owner)")
        assert holder.stdin is not None
        holder.stdin.close()  # the other writer is done: the daemon goes on
        holder.wait(timeout=10)
        daemon.wait_for("links announced again; Ctrl-C stops")
        # Two seconds after the last archive's end, the daemon's own run (no new messages).
        daemon.wait_for("community.noHistoryArchivesCreated")
        assert daemon.proc.poll() is None
    finally:
        code = daemon.stop()
    assert code == 0, "".join(daemon.lines)
