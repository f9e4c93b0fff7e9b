"""Owner side on disk: crash repair, corruption detection, piece-hash reuse, abort."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from archive_service_torrent.history import DataCorruptedError
from archive_service_torrent.layout import DIR_MODE, FILE_MODE, PIECE_LENGTH, ensure_dir
from archive_service_torrent.metainfo import hash_pieces, parse_metainfo

from archive_service.archives import build_archives, messages_from_list
from archive_service.fsutil import atomic_write
from archive_service.types import BuiltArchive

from .conftest import COMMUNITY, T0, TOPICS, WEEK, publish, week_messages


def built(week: int) -> list[BuiltArchive]:
    return list(
        build_archives(
            messages_from_list(week_messages(week)),
            TOPICS,
            T0 + week * WEEK,
            T0 + (week + 1) * WEEK,
            WEEK,
        )
    )


def snapshot(paths) -> dict[str, bytes]:
    return {
        name: p.read_bytes()
        for name, p in (("data", paths.data), ("index", paths.index), ("torrent", paths.torrent))
        if p.exists()
    }


async def test_unpublished_tail_from_a_crash_is_cut(make_side) -> None:
    owner = await make_side("owner")
    await publish(owner, week_messages(0), T0, T0 + WEEK)
    paths = owner.backend.paths(COMMUNITY)
    published = paths.data.read_bytes()
    with paths.data.open("ab") as f:  # a run that appended and died before its index
        f.write(b"\x01" * 150_000)

    publication = await owner.backend.open_publication(COMMUNITY, False)
    assert paths.data.read_bytes() == published
    assert publication.state.repairs and "150000 unpublished bytes" in publication.state.repairs[0]
    await publication.abort()
    second = await publish(owner, week_messages(1), T0 + WEEK, T0 + 2 * WEEK)
    assert second.index_size == 2


async def test_truncated_data_is_reported_never_reused(make_side) -> None:
    owner = await make_side("owner")
    await publish(owner, week_messages(0), T0, T0 + WEEK)
    paths = owner.backend.paths(COMMUNITY)
    with paths.data.open("r+b") as f:
        f.truncate(PIECE_LENGTH)
    with pytest.raises(DataCorruptedError, match="published archives are missing"):
        await owner.backend.open_publication(COMMUNITY, False)
    # The failed open released the community: the next attempt fails the same way, no hang.
    with pytest.raises(DataCorruptedError):
        await owner.backend.open_publication(COMMUNITY, False)


async def test_corrupted_published_piece_is_detected(make_side) -> None:
    owner = await make_side("owner")
    await publish(owner, week_messages(0), T0, T0 + WEEK)
    paths = owner.backend.paths(COMMUNITY)
    with paths.data.open("r+b") as f:
        f.seek(10)
        f.write(b"\xff\xfe")
    with pytest.raises(DataCorruptedError, match="piece 0"):
        await owner.backend.open_publication(COMMUNITY, False)


async def test_missing_or_stale_torrent_costs_a_rehash_not_correctness(make_side) -> None:
    owner = await make_side("owner")
    await publish(owner, week_messages(0), T0, T0 + WEEK)
    paths = owner.backend.paths(COMMUNITY)
    stale_torrent = paths.torrent.read_bytes()
    await publish(owner, week_messages(1), T0 + WEEK, T0 + 2 * WEEK)
    data = paths.data.read_bytes()
    expected = hash_pieces(data)

    paths.torrent.write_bytes(stale_torrent)  # a crash between the index and .torrent writes
    publication = await owner.backend.open_publication(COMMUNITY, False)
    reused = len(parse_metainfo(stale_torrent).info.pieces) // 20 - 1  # minus the index piece
    assert publication.state.hashed_bytes == len(data) - reused * PIECE_LENGTH
    assert bytes(publication.state.data_pieces) == expected
    await publication.abort()

    paths.torrent.unlink()
    publication = await owner.backend.open_publication(COMMUNITY, False)
    assert publication.state.hashed_bytes == len(data)
    assert bytes(publication.state.data_pieces) == expected
    await publication.abort()


async def test_abort_before_commit_leaves_files_untouched(make_side) -> None:
    owner = await make_side("owner")
    await publish(owner, week_messages(0), T0, T0 + WEEK)
    paths = owner.backend.paths(COMMUNITY)
    before = snapshot(paths)
    publication = await owner.backend.open_publication(COMMUNITY, False)
    for archive in built(1):
        await publication.add(archive)
    assert paths.data.stat().st_size > len(before["data"])
    await publication.abort()
    assert snapshot(paths) == before


async def test_abort_after_commit_restores_the_previous_publication(make_side) -> None:
    """creation aborts every backend when another one fails after this one committed."""
    owner = await make_side("owner")
    first = await publish(owner, week_messages(0), T0, T0 + WEEK)
    paths = owner.backend.paths(COMMUNITY)
    before = snapshot(paths)
    publication = await owner.backend.open_publication(COMMUNITY, False)
    for archive in built(1):
        await publication.add(archive)
    await publication.commit()
    assert snapshot(paths) != before
    await publication.abort()
    assert snapshot(paths) == before
    assert owner.backend.current_link(COMMUNITY) == first.link


async def test_abort_of_the_first_publication_removes_everything(make_side) -> None:
    owner = await make_side("owner")
    paths = owner.backend.paths(COMMUNITY)
    publication = await owner.backend.open_publication(COMMUNITY, False)
    for archive in built(0):
        await publication.add(archive)
    await publication.commit()
    await publication.abort()
    assert snapshot(paths) == {"data": b""}
    assert owner.backend.current_link(COMMUNITY) is None


async def test_a_second_open_waits_for_the_first_to_finish(make_side) -> None:
    owner = await make_side("owner")
    first = await owner.backend.open_publication(COMMUNITY, False)
    second = asyncio.ensure_future(owner.backend.open_publication(COMMUNITY, False))
    await asyncio.sleep(0.05)
    assert not second.done()  # one writer per community's data file
    for archive in built(0):
        await first.add(archive)
    await first.commit()
    publication = await asyncio.wait_for(second, 5)
    assert publication.state.data_length == owner.backend.paths(COMMUNITY).data.stat().st_size
    await publication.abort()


def test_files_and_directories_have_status_go_modes(tmp_path: Path) -> None:
    ensure_dir(tmp_path / "a" / "b")
    atomic_write(tmp_path / "a" / "b" / "f", b"x", mode=FILE_MODE, dir_mode=DIR_MODE)
    atomic_write(tmp_path / "c" / "g", b"y", mode=FILE_MODE, dir_mode=DIR_MODE)
    assert (tmp_path / "a" / "b").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "c").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "a" / "b" / "f").stat().st_mode & 0o777 == 0o644


async def test_damaged_torrent_file_is_rebuilt_by_the_next_publication(make_side) -> None:
    owner = await make_side("owner")
    await publish(owner, week_messages(0), T0, T0 + WEEK)
    paths = owner.backend.paths(COMMUNITY)
    paths.torrent.write_bytes(b"d8:announce")  # truncated
    assert owner.backend.current_link(COMMUNITY) is None  # logged, not raised
    second = await publish(owner, week_messages(1), T0 + WEEK, T0 + 2 * WEEK)
    assert second.link is not None and owner.backend.current_link(COMMUNITY) == second.link
    assert parse_metainfo(paths.torrent.read_bytes()).info.pieces[:20] == hash_pieces(
        paths.data.read_bytes()[:PIECE_LENGTH]
    )


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
async def test_a_window_the_index_holds_is_never_published_again(
    make_side, encrypted: bool
) -> None:
    # A crash between the backend's commit and the store's end-date write makes the next run
    # offer the same windows again (encrypted anew: other bytes); none may be appended twice.
    owner = await make_side("owner")
    if encrypted:
        owner.crypto.generate_group_key(COMMUNITY)
    two_weeks = week_messages(0) + week_messages(1)
    first = await publish(owner, two_weeks, T0, T0 + 2 * WEEK, encrypt=encrypted)
    paths = owner.backend.paths(COMMUNITY)
    before = snapshot(paths)

    again = await publish(owner, two_weeks, T0, T0 + 2 * WEEK, encrypt=encrypted)

    assert again.archive_ids == [] and again.index_size == 2 and again.link == first.link
    assert snapshot(paths) == before
    # A later week still goes on; a run overlapping what is held adds only the new window.
    third = await publish(owner, two_weeks + week_messages(2), T0, T0 + 3 * WEEK, encrypt=encrypted)
    assert len(third.archive_ids) == 1 and third.index_size == 3
    assert owner.backend.committed_end(COMMUNITY) == T0 + 3 * WEEK


async def test_a_torrent_older_than_its_index_is_rewritten_with_the_interrupted_link(
    make_side,
) -> None:
    # A crash between the index rename and the .torrent rename: the next run adds nothing,
    # but publishes the .torrent of the index on disk (the link the crashed run would have).
    owner = await make_side("owner")
    await publish(owner, week_messages(0), T0, T0 + WEEK)
    paths = owner.backend.paths(COMMUNITY)
    old_torrent = paths.torrent.read_bytes()
    second = await publish(owner, week_messages(1), T0 + WEEK, T0 + 2 * WEEK)
    atomic_write(paths.torrent, old_torrent, mode=FILE_MODE, dir_mode=DIR_MODE)
    assert owner.backend.current_link(COMMUNITY) != second.link

    again = await publish(owner, week_messages(1), T0 + WEEK, T0 + 2 * WEEK)

    assert again.archive_ids == [] and again.link == second.link
    assert owner.backend.current_link(COMMUNITY) == second.link
    assert await owner.backend.seed(COMMUNITY, second.link) is None  # seed mode: hashed here


async def test_committed_end_is_zero_without_history_and_ignores_a_damaged_index(
    make_side,
) -> None:
    owner = await make_side("owner")
    assert owner.backend.committed_end(COMMUNITY) == 0
    await publish(owner, week_messages(0), T0, T0 + WEEK)
    assert owner.backend.committed_end(COMMUNITY) == T0 + WEEK
    owner.backend.paths(COMMUNITY).index.write_bytes(b"\xff not an index")
    assert owner.backend.committed_end(COMMUNITY) == 0


def test_same_content_compares_magnets_by_info_hash() -> None:
    from archive_service_torrent.backend import TorrentBackend
    from archive_service_torrent.magnet import format_magnet

    info_hash = bytes(range(20))
    a = format_magnet(info_hash, "x", [], [("127.0.0.1", 4001)])
    b = format_magnet(info_hash, "x", [], [("127.0.0.1", 4002)])
    other = format_magnet(bytes(20), "x", [], [("127.0.0.1", 4001)])
    assert a != b and TorrentBackend.same_content(a, b)
    assert not TorrentBackend.same_content(a, other)
    assert not TorrentBackend.same_content(a, "zNotAMagnet")


def _killed_writer(*targets: Path) -> list[Path]:
    """A real process that dies by SIGKILL inside AtomicFile, leaving its temporary files."""
    code = (
        "import os, signal, sys\n"
        "from archive_service.fsutil import AtomicFile\n"
        "for target in sys.argv[1:]:\n"
        "    out = AtomicFile(target)\n"
        "    out.write(b'half')\n"
        "    print(out.tmp, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, *map(str, targets)], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == -signal.SIGKILL
    return [Path(line) for line in run.stdout.split()]


async def test_start_removes_temporary_files_a_killed_process_left(make_side) -> None:
    owner = await make_side("owner")
    await publish(owner, week_messages(0), T0, T0 + WEEK)
    paths = owner.backend.paths(COMMUNITY)
    await owner.backend.stop()
    left = _killed_writer(paths.index, paths.torrent)
    assert len(left) == 2 and all(p.exists() for p in left)
    before = snapshot(paths)

    await owner.backend.start()

    assert not any(p.exists() for p in left)
    assert snapshot(paths) == before
