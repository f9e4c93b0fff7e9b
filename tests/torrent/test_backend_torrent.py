"""The BitTorrent backend end to end on 127.0.0.1 with the real core (archive builder, indexes,
hash ratchet, SQLite store): an owner publishes and seeds, members download by magnet."""

from __future__ import annotations

import asyncio

import pytest
from archive_service_torrent.layout import PIECE_LENGTH
from archive_service_torrent.magnet import parse_magnet
from archive_service_torrent.metainfo import parse_metainfo

from archive_service.errors import DecryptionError
from archive_service.events import (
    DownloadingHistoryArchivesStarted,
    HistoryArchiveDownloaded,
    IndexDownloadCompleted,
)
from archive_service.index import decode_torrent_index

from .conftest import COMMUNITY, OWNER_KEY_HEX, T0, WEEK, publish, publish_and_seed, week_messages


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
