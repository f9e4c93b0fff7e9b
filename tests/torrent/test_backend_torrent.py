"""The BitTorrent backend end to end on 127.0.0.1 with the real core (archive builder, indexes,
hash ratchet, SQLite store): an owner publishes and seeds, members download by magnet."""

from __future__ import annotations

import asyncio

import libtorrent as lt
import pytest
from archive_service_torrent.backend import TorrentBackend
from archive_service_torrent.index import decode_torrent_index
from archive_service_torrent.layout import PIECE_LENGTH
from archive_service_torrent.magnet import parse_magnet
from archive_service_torrent.metainfo import parse_metainfo

from archive_service.archives import build_archives, messages_from_list
from archive_service.errors import (
    ArchiveNotFoundError,
    BackendError,
    DecryptionError,
    SizeLimitError,
)
from archive_service.events import (
    DownloadingHistoryArchivesStarted,
    HistoryArchiveDownloaded,
    HistoryArchiveDownloadFailed,
    IndexDownloadCompleted,
)
from archive_service.interface import Timeouts

from .conftest import (
    COMMUNITY,
    OTHER_COMMUNITY,
    OWNER_KEY_HEX,
    T0,
    TOPICS,
    WEEK,
    publish,
    publish_and_seed,
    week_messages,
)


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
async def test_owner_publishes_member_downloads_and_imports(make_side, encrypted: bool) -> None:
    owner = await make_side("owner")
    member = await make_side("member")
    if encrypted:
        member.crypto.add_group_key(owner.crypto.generate_group_key(COMMUNITY))
    messages = week_messages(0) + week_messages(1) + week_messages(2)
    result = await publish_and_seed(owner, messages, T0, T0 + 3 * WEEK, encrypt=encrypted)

    assert len(result.archive_ids) == 3 and result.index_size == 3
    assert owner.backend.current_link(COMMUNITY) == result.link
    assert await owner.backend.is_seeding(COMMUNITY, result.link)
    paths = owner.backend.paths(COMMUNITY)
    meta = parse_metainfo(paths.torrent.read_bytes())
    assert meta.created_by == OWNER_KEY_HEX
    assert parse_magnet(result.link).info_hash == meta.info_hash
    raw_index = paths.index.read_bytes()
    if encrypted:  # the published index is encrypted: unreadable without the group key
        with pytest.raises(DecryptionError):
            decode_torrent_index(raw_index, COMMUNITY, None)
    else:
        assert len(decode_torrent_index(raw_index, COMMUNITY, None).archives) == 3

    info = await member.backend.download_history_archives(COMMUNITY, result.link, asyncio.Event())

    assert (info.total_archives, info.total_downloaded, info.failed_archive_ids) == (3, 3, [])
    assert not info.cancelled
    saved = member.store.downloaded_archives(COMMUNITY)
    assert {d.archive_id for d in saved} == set(result.archive_ids)
    assert {(d.backend, d.link) for d in saved} == {("torrent", result.link)}
    assert len(member.of(IndexDownloadCompleted)) == 1
    assert member.of(DownloadingHistoryArchivesStarted)[0].missing_archives == 3
    downloaded = member.of(HistoryArchiveDownloaded)
    # Newest first, with progress counters.
    assert [e.from_ts for e in downloaded] == [T0 + 2 * WEEK, T0 + WEEK, T0]
    assert [e.downloaded for e in downloaded] == [1, 2, 3]
    # The member's folder is byte-identical to the owner's: same layout, same offsets.
    mpaths = member.backend.paths(COMMUNITY)
    assert mpaths.data.read_bytes() == paths.data.read_bytes()
    assert mpaths.index.read_bytes() == raw_index
    assert not list(mpaths.root.parent.glob(".*.parts"))

    by_hash = {m.hash: m for m in messages}
    imported = 0
    for aid in result.archive_ids:
        got = await member.backend.load_archive_messages(COMMUNITY, result.link, aid)
        assert got and all(by_hash[m.hash].payload == m.payload for m in got)
        imported += len(got)
    assert imported == len(messages)
    assert len(paths.data.read_bytes()) % PIECE_LENGTH == 0
    # A second run with the same link has nothing to do.
    again = await member.backend.download_history_archives(COMMUNITY, result.link, asyncio.Event())
    assert (again.total_archives, again.total_downloaded, again.bytes_downloaded) == (3, 3, 0)


async def test_second_week_is_incremental(make_side) -> None:
    owner = await make_side("owner")
    first = await publish(owner, week_messages(0), T0, T0 + WEEK)
    paths = owner.backend.paths(COMMUNITY)
    meta1 = parse_metainfo(paths.torrent.read_bytes())
    data1 = paths.data.read_bytes()
    second = await publish(owner, week_messages(1), T0 + WEEK, T0 + 2 * WEEK)
    meta2 = parse_metainfo(paths.torrent.read_bytes())
    data_pieces1 = len(data1) // PIECE_LENGTH

    assert len(second.archive_ids) == 1 and second.index_size == 2
    assert paths.data.read_bytes()[: len(data1)] == data1  # append-only
    assert meta2.info.pieces[: data_pieces1 * 20] == meta1.info.pieces[: data_pieces1 * 20]
    entries = {e.archive_id for e in await owner.backend.read_index(COMMUNITY)}
    assert entries == set(first.archive_ids) | set(second.archive_ids)
    assert first.link != second.link


async def test_incremental_week_hashes_only_new_bytes(make_side) -> None:
    owner = await make_side("owner")
    first = await publish(owner, week_messages(0), T0, T0 + WEEK)
    data_len = owner.backend.paths(COMMUNITY).data.stat().st_size

    publication = await owner.backend.open_publication(COMMUNITY, False)
    assert publication.state.hashed_bytes == 0  # pieces of week 0 came from the .torrent
    added = [
        await publication.add(archive)
        for archive in build_archives(
            messages_from_list(week_messages(1)), TOPICS, T0 + WEEK, T0 + 2 * WEEK, WEEK
        )
    ]
    result = await publication.commit()
    new_len = owner.backend.paths(COMMUNITY).data.stat().st_size
    index_len = owner.backend.paths(COMMUNITY).index.stat().st_size
    assert publication.hashed_bytes == (new_len - data_len) + index_len
    assert result.archive_ids == added and result.index_size == 2
    entries = await owner.backend.read_index(COMMUNITY)
    assert [e.archive_id for e in entries] == first.archive_ids + added  # IDs stable
    assert entries[1].locator["offset"] == data_len


async def test_nothing_new_keeps_the_link(make_side) -> None:
    owner = await make_side("owner")
    first = await publish(owner, week_messages(0), T0, T0 + WEEK)
    again = await publish(owner, [], T0 + WEEK, T0 + 2 * WEEK)
    assert again.archive_ids == [] and again.link == first.link and again.index_size == 1


async def test_member_downloads_only_the_new_week_of_a_new_link(make_side) -> None:
    owner = await make_side("owner")
    member = await make_side("member")
    first = await publish_and_seed(owner, week_messages(0), T0, T0 + WEEK)
    await member.backend.download_history_archives(COMMUNITY, first.link, asyncio.Event())
    second = await publish_and_seed(owner, week_messages(1), T0 + WEEK, T0 + 2 * WEEK)
    await owner.backend.unseed(COMMUNITY, first.link)

    info = await member.backend.download_history_archives(COMMUNITY, second.link, asyncio.Event())

    assert (info.total_archives, info.total_downloaded, info.failed_archive_ids) == (2, 2, [])
    assert info.bytes_downloaded == (await owner.backend.read_index(COMMUNITY))[1].size
    status = member.backend.torrent_status(COMMUNITY)
    assert status.total_payload_download < info.bytes_downloaded + 2 * PIECE_LENGTH
    assert (
        member.backend.paths(COMMUNITY).data.read_bytes()
        == owner.backend.paths(COMMUNITY).data.read_bytes()
    )
    member_link = member.backend.current_link(COMMUNITY)
    assert member_link is not None
    assert parse_magnet(member_link).info_hash == parse_magnet(second.link).info_hash


async def test_cancel_mid_download_returns_cancelled_then_resumes(make_side) -> None:
    owner = await make_side("owner", upload_rate_limit=500_000, limit_local_peers=True)
    cancel = asyncio.Event()

    def on_event(event: object) -> None:
        if isinstance(event, HistoryArchiveDownloaded):
            cancel.set()

    # One archive requested at a time: with a wider window the others could arrive in full
    # before the cancel is seen, and the run would (rightly) not be cancelled.
    member = await make_side("member", on_event=on_event, concurrency=1)
    messages = [m for w in range(3) for m in week_messages(w, count=60, size=10_000)]
    result = await publish_and_seed(owner, messages, T0, T0 + 3 * WEEK)

    info = await member.backend.download_history_archives(COMMUNITY, result.link, cancel)

    assert info.cancelled and 1 <= info.total_downloaded < 3 and not info.failed_archive_ids
    saved = {d.archive_id for d in member.store.downloaded_archives(COMMUNITY)}
    assert len(saved) == info.total_downloaded
    status = member.backend.torrent_status(COMMUNITY)
    assert status.total_wanted == status.total_wanted_done  # nothing more is requested

    again = await member.backend.download_history_archives(COMMUNITY, result.link, asyncio.Event())
    assert (again.total_downloaded, again.cancelled) == (3, False)
    assert {d.archive_id for d in member.store.downloaded_archives(COMMUNITY)} == set(
        result.archive_ids
    )


async def test_archive_timeout_is_recorded_not_dropped(make_side) -> None:
    owner = await make_side("owner", upload_rate_limit=200_000, limit_local_peers=True)
    member = await make_side(
        "member", timeouts=Timeouts(index=10, archive=0.5, download=30), concurrency=1
    )
    messages = [m for w in range(2) for m in week_messages(w, count=60, size=10_000)]
    result = await publish_and_seed(owner, messages, T0, T0 + 2 * WEEK)

    info = await member.backend.download_history_archives(COMMUNITY, result.link, asyncio.Event())

    assert info.total_archives == 2 and len(info.failed_archive_ids) >= 1
    assert info.total_downloaded + len(info.failed_archive_ids) == 2
    failed = member.of(HistoryArchiveDownloadFailed)
    assert [e.archive_id for e in failed] == info.failed_archive_ids
    assert all("timeouts.archive" in e.reason for e in failed)
    saved = {d.archive_id for d in member.store.downloaded_archives(COMMUNITY)}
    assert saved.isdisjoint(info.failed_archive_ids)


async def test_seed_unseed_and_is_seeding_follow_the_link(make_side) -> None:
    owner = await make_side("owner")
    first = await publish_and_seed(owner, week_messages(0), T0, T0 + WEEK)
    assert await owner.backend.is_seeding(COMMUNITY, first.link)
    second = await publish(owner, week_messages(1), T0 + WEEK, T0 + 2 * WEEK)
    # The manager's order: seed the new link, then unseed the old one.
    await owner.backend.seed(COMMUNITY, second.link)
    await owner.backend.unseed(COMMUNITY, first.link)
    assert await owner.backend.is_seeding(COMMUNITY, second.link)
    assert not await owner.backend.is_seeding(COMMUNITY, first.link)
    await owner.backend.seed(COMMUNITY, second.link)  # idempotent
    with pytest.raises(ArchiveNotFoundError, match="not the torrent"):
        await owner.backend.seed(COMMUNITY, first.link)
    await owner.backend.unseed(COMMUNITY, second.link)
    assert not await owner.backend.is_seeding(COMMUNITY, second.link)
    with pytest.raises(ArchiveNotFoundError, match="create archives first"):
        await owner.backend.seed(OTHER_COMMUNITY, "")


async def test_restart_reseeds_existing_torrents(make_side) -> None:
    owner = await make_side("owner")
    result = await publish_and_seed(owner, week_messages(0), T0, T0 + WEEK)
    await owner.backend.stop()

    restarted = TorrentBackend(owner.backend.context, owner.backend.tsettings)
    await restarted.start()
    try:
        watch = restarted._held[COMMUNITY].watch
        await watch.wait_until(
            lambda: watch.status().state == lt.torrent_status.seeding,
            cancel=None,
            timeout=10,
            what="re-check",
        )
        link = restarted.current_link(COMMUNITY)
        assert (
            link is not None and parse_magnet(link).info_hash == parse_magnet(result.link).info_hash
        )
        assert await restarted.is_seeding(COMMUNITY, link)
        member = await make_side("member")
        info = await member.backend.download_history_archives(COMMUNITY, link, asyncio.Event())
        assert info.total_downloaded == 1
    finally:
        await restarted.stop()


async def test_load_checks_sizes_before_reading(make_side) -> None:
    owner = await make_side("owner", max_archive_bytes=1000)
    result = await publish(owner, week_messages(0), T0, T0 + WEEK)
    with pytest.raises(SizeLimitError, match="max_archive_bytes"):
        await owner.backend.load_archive_messages(COMMUNITY, "", result.archive_ids[0])
    with pytest.raises(ArchiveNotFoundError):
        await owner.backend.load_archive_messages(COMMUNITY, "", "0x" + "00" * 32)
    assert await owner.backend.read_index(OTHER_COMMUNITY) == []
    member = await make_side("member")
    with pytest.raises(ArchiveNotFoundError):
        await member.backend.read_archive_bytes(COMMUNITY, None, result.archive_ids[0])


async def test_overall_download_timeout_fails_the_rest_with_its_reason(make_side) -> None:
    owner = await make_side("owner", upload_rate_limit=300_000, limit_local_peers=True)
    member = await make_side("member", timeouts=Timeouts(index=10, archive=30, download=3.0))
    messages = [m for w in range(3) for m in week_messages(w, count=60, size=10_000)]
    result = await publish_and_seed(owner, messages, T0, T0 + 3 * WEEK)

    info = await member.backend.download_history_archives(COMMUNITY, result.link, asyncio.Event())

    assert info.total_downloaded + len(info.failed_archive_ids) == 3
    assert info.failed_archive_ids and not info.cancelled
    reasons = {e.reason for e in member.of(HistoryArchiveDownloadFailed)}
    assert all("timeouts.download" in r for r in reasons)


async def test_not_enough_disk_space_fails_archives_before_requesting_them(make_side) -> None:
    owner = await make_side("owner")
    member = await make_side("member", min_free_disk_bytes=1 << 60)
    result = await publish_and_seed(owner, week_messages(0), T0, T0 + WEEK)

    info = await member.backend.download_history_archives(COMMUNITY, result.link, asyncio.Event())

    assert info.failed_archive_ids == result.archive_ids and info.total_downloaded == 0
    assert "free disk space" in member.of(HistoryArchiveDownloadFailed)[0].reason
    assert member.store.downloaded_archives(COMMUNITY) == []


async def test_storage_error_fails_fast_with_libtorrents_reason(make_side) -> None:
    """A fault libtorrent really hits: `data` cannot be opened (here it is a directory). The
    run ends at once with libtorrent's reason, and a later run works once it is fixed."""
    owner = await make_side("owner")
    member = await make_side("member", timeouts=Timeouts(index=10, archive=30, download=60))
    result = await publish_and_seed(owner, week_messages(0), T0, T0 + WEEK)
    blocker = member.backend.paths(COMMUNITY).data
    blocker.mkdir(parents=True)

    started = asyncio.get_running_loop().time()
    with pytest.raises(BackendError, match=r"libtorrent stopped .*Is a directory"):
        await member.backend.download_history_archives(COMMUNITY, result.link, asyncio.Event())
    assert asyncio.get_running_loop().time() - started < 5  # not a timeout
    assert member.store.downloaded_archives(COMMUNITY) == []

    blocker.rmdir()
    info = await member.backend.download_history_archives(COMMUNITY, result.link, asyncio.Event())
    assert info.total_downloaded == 1 and not info.failed_archive_ids
