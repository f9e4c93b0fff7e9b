"""Owner side on disk: crash repair, corruption detection, piece-hash reuse, abort."""

from __future__ import annotations

import asyncio
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
