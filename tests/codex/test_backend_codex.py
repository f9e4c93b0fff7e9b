"""The Codex backend end to end on local Codex-compatible nodes (127.0.0.1): an owner publishes
through node A, members download through node B by network fetch, with the real core (archive
builder, indexes, hash ratchet, SQLite store)."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
import weekly_history
from aiohttp import web
from archive_service_codex.backend import CodexBackend, local_cid
from archive_service_codex.cid import ManifestCoder
from archive_service_codex.client import CodexClient, CodexUnavailable, DataItem
from archive_service_codex.settings import CodexSettings
from archive_service_codex.verify import CodexIntegrityError
from archive_service_codex_node import LocalCodexNode
from local_http import serve
from sides import Side, Sides
from weekly_history import COMMUNITY, T0, TOPICS, WEEK, publish

from archive_service.crypto.hashratchet import HashRatchet
from archive_service.errors import (
    ArchiveNotFoundError,
    ArchiveTimeoutError,
    ConfigError,
    InvalidLinkError,
    MalformedIndexError,
    NoGroupKeyError,
    SizeLimitError,
)
from archive_service.events import (
    ArchiveEvent,
    DownloadingHistoryArchivesStarted,
    HistoryArchiveDownloaded,
    HistoryArchiveDownloadFailed,
    IndexDownloadCompleted,
)
from archive_service.index import archive_id, encode_index, metadata_to_pb
from archive_service.interface import BackendContext, PublishResult, Timeouts
from archive_service.plugins import backend_factories, plugin_manager
from archive_service.store import Store
from archive_service.types import ArchiveMetadata, BuiltArchive, StoredMessage
from archive_service.wire import pb

MAGNET = "magnet:?xt=urn:btih:" + "ab" * 20


# fixtures (nodes from tests/codex/conftest.py) ---------------------------------------------
@pytest.fixture
async def node_a(codex_node_factory) -> LocalCodexNode:
    return await codex_node_factory("node-a")


@pytest.fixture
async def node_b(codex_node_factory, node_a: LocalCodexNode) -> LocalCodexNode:
    """Knows node A only through its bootstrap SPR, as a member's node knows the owner's."""
    return await codex_node_factory("node-b", bootstrap=[node_a.spr])


@pytest.fixture
async def patient_node(codex_node_factory) -> LocalCodexNode:
    """Searches for a missing CID for minutes, as a real node does (block-retries 3000)."""
    return await codex_node_factory("node-p", block_retries=3000)


@pytest.fixture
async def make_side(tmp_path: Path) -> AsyncIterator[Callable[..., object]]:
    sides = Sides(tmp_path)

    async def make(
        name: str,
        node: LocalCodexNode | str,
        *,
        timeouts: Timeouts | None = None,
        concurrency: int = 2,
        on_event: Callable[[ArchiveEvent], None] | None = None,
        **settings: object,
    ) -> Side:
        api_url = node if isinstance(node, str) else node.api_url
        return await sides.add(
            name,
            CodexSettings(api_url=api_url, **settings),
            timeouts or Timeouts(index=15, archive=15, download=60),
            concurrency,
            on_event,
        )

    yield make
    await sides.close()


@pytest.fixture
async def owner_member(
    make_side, node_a: LocalCodexNode, node_b: LocalCodexNode
) -> tuple[Side, Side]:
    """An owner on node A and a member on node B, with the default settings."""
    return await make_side("owner", node_a), await make_side("member", node_b)


def week_messages(week: int, count: int = 60, size: int = 9000) -> list[StoredMessage]:
    """Payloads big enough for multi-block archives."""
    return weekly_history.week_messages(week, count, size)


async def publish_two_weeks(owner: Side) -> PublishResult:
    """The owner publishes weeks 0 and 1 (two archives)."""
    return await publish(owner, week_messages(0) + week_messages(1), T0, T0 + 2 * WEEK)


# owner → member ------------------------------------------------------------------------------
@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
async def test_owner_publishes_on_a_member_downloads_through_b(
    make_side, node_a: LocalCodexNode, node_b: LocalCodexNode, encrypted: bool
) -> None:
    owner = await make_side("owner", node_a)
    member = await make_side("member", node_b, concurrency=1)
    if encrypted:
        key = owner.crypto.generate_group_key(COMMUNITY)
        member.crypto.add_group_key(key)
    messages = week_messages(0) + week_messages(1) + week_messages(2)
    result = await publish(owner, messages, T0, T0 + 3 * WEEK, encrypt=encrypted)

    assert result.link is not None and CodexBackend.handles_link(result.link)
    assert len(result.archive_ids) == 3 and result.index_size == 3
    assert owner.backend.current_link(COMMUNITY) == result.link
    assert await owner.backend.is_seeding(COMMUNITY, result.link)
    # Every archive is published as status-go does, so the CIDs are the ones it would compute.
    owner_entries = await owner.backend.read_index(COMMUNITY)
    for entry in owner_entries:
        data = await owner.backend.read_archive_bytes(COMMUNITY, None, entry.archive_id)
        assert local_cid(data) == entry.locator["cid"]
        assert len(data) > 3 * 65536  # multi-block datasets

    info = await member.backend.download_history_archives(COMMUNITY, result.link, asyncio.Event())

    assert (info.total_archives, info.total_downloaded, info.failed_archive_ids) == (3, 3, [])
    assert not info.cancelled and info.bytes_downloaded > 9 * 65536
    saved = member.store.downloaded_archives(COMMUNITY)
    assert {d.archive_id for d in saved} == set(result.archive_ids)
    assert {(d.backend, d.link) for d in saved} == {("logos-storage", result.link)}
    # Events: index, start, then one per archive, newest first, with progress.
    assert [type(e) for e in member.events[:2]] == [
        IndexDownloadCompleted,
        DownloadingHistoryArchivesStarted,
    ]
    done = member.of(HistoryArchiveDownloaded)
    assert [e.from_ts for e in done] == [T0 + 2 * WEEK, T0 + WEEK, T0]
    assert [(e.downloaded, e.total) for e in done] == [(1, 3), (2, 3), (3, 3)]
    # Import: the member decodes exactly what the owner archived.
    imported = []
    for entry in owner_entries:
        msgs = await member.backend.load_archive_messages(COMMUNITY, result.link, entry.archive_id)
        imported += map(StoredMessage.from_pb, msgs)
    assert sorted(imported, key=lambda m: m.hash) == sorted(messages, key=lambda m: m.hash)
    assert member.store.save_waku_messages(imported) == len(messages)
    # The member's index copy equals the owner's.
    member_entries = await member.backend.read_index(COMMUNITY, result.link)
    assert member_entries == owner_entries


async def test_a_second_run_downloads_nothing(owner_member: tuple[Side, Side]) -> None:
    owner, member = owner_member
    result = await publish_two_weeks(owner)
    first = await member.backend.download_history_archives(COMMUNITY, result.link, asyncio.Event())
    assert first.total_downloaded == 2
    member.events.clear()
    again = await member.backend.download_history_archives(COMMUNITY, result.link, asyncio.Event())
    assert (again.total_archives, again.total_downloaded, again.bytes_downloaded) == (2, 2, 0)
    assert member.of(HistoryArchiveDownloaded) == []


async def test_newest_alone_then_slots_carry_bytes_only(
    make_side, node_a: LocalCodexNode, node_b: LocalCodexNode
) -> None:
    """The newest archive is looked up, fetched and recorded before anything else is asked
    of the node. After it, a download slot only streams: the next archives' manifests are
    looked up ahead of it (in plan order), and it takes the next archive while the last one
    is committed and recorded. With one slot, archives stream one at a time, newest first,
    and are recorded in that order."""
    owner = await make_side("owner", node_a)
    member = await make_side("member", node_b, concurrency=1)
    weeks = 4
    messages = [m for w in range(weeks) for m in week_messages(w)]
    result = await publish(owner, messages, T0, T0 + weeks * WEEK)
    entries = sorted(await owner.backend.read_index(COMMUNITY), key=lambda e: -e.metadata.from_ts)
    newest_first = [e.locator["cid"] for e in entries]
    calls: list[tuple[str, str]] = []
    third_streams = threading.Event()
    client = member.backend.client
    manifest, download_to = client.manifest, client.download_to

    async def manifest_logged(cid: str) -> DataItem:
        calls.append(("manifest", cid))
        return await manifest(cid)

    async def download_logged(cid: str, sink: Callable[[bytes], object], **options: object) -> int:
        calls.append(("transfer", cid))
        if cid == newest_first[2]:
            third_streams.set()
        received = await download_to(cid, sink, **options)  # type: ignore[arg-type]
        calls.append(("transferred", cid))
        return received

    # The second archive is recorded only once the third one streams: a slot held until its
    # archive is recorded would wait here for the whole bound. While the second is held, no
    # later archive is recorded (they are recorded in the order their bytes arrived).
    waited: list[bool] = []
    recorded_while_held: list[bool] = []
    second_held, later_record = threading.Event(), threading.Event()
    save = member.store.save_archive_id

    def save_logged(community_id: bytes, archive_id: str, **kwargs: object) -> None:
        calls.append(("recorded", archive_id))
        if archive_id == entries[1].archive_id:
            second_held.set()
            waited.append(third_streams.wait(timeout=30))
            recorded_while_held.append(later_record.wait(timeout=1))
        elif second_held.is_set() and not recorded_while_held:
            later_record.set()
        save(community_id, archive_id, **kwargs)  # type: ignore[arg-type]

    client.manifest = manifest_logged  # type: ignore[method-assign]
    client.download_to = download_logged  # type: ignore[method-assign]
    member.store.save_archive_id = save_logged  # type: ignore[method-assign]

    info = await member.backend.download_history_archives(COMMUNITY, result.link, asyncio.Event())

    assert (info.total_downloaded, info.failed_archive_ids) == (weeks, [])
    assert (waited, recorded_while_held) == ([True], [False])
    calls = [(kind, key) for kind, key in calls if key != result.link]
    # The newest alone: nothing else is asked before it is recorded.
    assert calls[:4] == [
        ("manifest", newest_first[0]),
        ("transfer", newest_first[0]),
        ("transferred", newest_first[0]),
        ("recorded", entries[0].archive_id),
    ]
    assert [key for kind, key in calls if kind == "transfer"] == newest_first
    assert [kind for kind, _ in calls if kind in ("transfer", "transferred")] == [
        "transfer",
        "transferred",
    ] * weeks
    # Looked up ahead: the third manifest is asked for before the second archive has arrived.
    assert calls.index(("manifest", newest_first[2])) < calls.index(
        ("transferred", newest_first[1])
    )
    done = member.of(HistoryArchiveDownloaded)
    assert [e.from_ts for e in done] == [T0 + w * WEEK for w in reversed(range(weeks))]


async def test_encrypted_index_without_the_key_is_a_typed_error(
    owner_member: tuple[Side, Side],
) -> None:
    owner, member = owner_member
    owner.crypto.generate_group_key(COMMUNITY)
    result = await publish(owner, week_messages(0), T0, T0 + WEEK, encrypt=True)
    with pytest.raises(NoGroupKeyError):
        await member.backend.download_history_archives(COMMUNITY, result.link, asyncio.Event())
    assert member.store.downloaded_archives(COMMUNITY) == []


# incremental publication -----------------------------------------------------------------------
async def test_second_week_extends_the_index_and_removes_the_old_one(
    owner_member: tuple[Side, Side], node_a: LocalCodexNode
) -> None:
    owner, member = owner_member
    first = await publish_two_weeks(owner)
    ids_before = {e.archive_id: e for e in await owner.backend.read_index(COMMUNITY)}
    await member.backend.download_history_archives(COMMUNITY, first.link, asyncio.Event())

    second = await publish(owner, week_messages(2), T0 + 2 * WEEK, T0 + 3 * WEEK)

    assert second.link != first.link and second.index_size == 3
    assert len(second.archive_ids) == 1
    after = {e.archive_id: e for e in await owner.backend.read_index(COMMUNITY)}
    assert set(ids_before) < set(after)  # cumulative, IDs stable
    assert all(after[k] == v for k, v in ids_before.items())
    async with CodexClient(node_a.api_url) as a:
        assert not await a.exists(first.link)  # old index removed after the commit
        assert await a.exists(second.link)
        for entry in after.values():
            assert await a.exists(entry.locator["cid"])  # archives are kept
    member.events.clear()
    info = await member.backend.download_history_archives(COMMUNITY, second.link, asyncio.Event())
    assert (info.total_archives, info.total_downloaded) == (3, 3)
    assert [e.archive_id for e in member.of(HistoryArchiveDownloaded)] == second.archive_ids


async def test_nothing_new_publishes_nothing_and_answers_the_current_link(
    make_side, node_a: LocalCodexNode
) -> None:
    """As the BitTorrent backend does: the result names the link the backend holds."""
    owner = await make_side("owner", node_a)
    first = await publish(owner, week_messages(0), T0, T0 + WEEK)
    again = await publish(owner, week_messages(0), T0, T0 + WEEK)
    assert again.link == first.link and again.archive_ids == [] and again.index_size == 1
    assert owner.backend.current_link(COMMUNITY) == first.link


async def test_a_node_that_lost_the_old_index_still_gets_a_full_index(
    make_side, node_a: LocalCodexNode, node_b: LocalCodexNode
) -> None:
    owner = await make_side("owner", node_a)
    first = await publish_two_weeks(owner)
    async with CodexClient(node_a.api_url) as a:
        await a.delete(first.link)  # the node lost it (upstream would start a fresh index)
    second = await publish(owner, week_messages(2), T0 + 2 * WEEK, T0 + 3 * WEEK)
    assert second.index_size == 3
    member = await make_side("member", node_b)
    info = await member.backend.download_history_archives(COMMUNITY, second.link, asyncio.Event())
    assert (info.total_archives, info.total_downloaded) == (3, 3)


async def test_seed_restores_what_the_node_lost_from_local_copies(
    make_side, node_a: LocalCodexNode
) -> None:
    owner = await make_side("owner", node_a)
    result = await publish_two_weeks(owner)
    entries = await owner.backend.read_index(COMMUNITY)
    async with CodexClient(node_a.api_url) as a:
        await a.delete(result.link)
        await a.delete(entries[0].locator["cid"])
        assert not await owner.backend.is_seeding(COMMUNITY, result.link)
        await owner.backend.seed(COMMUNITY, result.link)
        assert await owner.backend.is_seeding(COMMUNITY, result.link)
        restored = await a.download_bytes(entries[0].locator["cid"])
    assert restored == await owner.backend.read_archive_bytes(
        COMMUNITY, None, entries[0].archive_id
    )
    await owner.backend.unseed(COMMUNITY, result.link)
    assert not await owner.backend.is_seeding(COMMUNITY, result.link)
    async with CodexClient(node_a.api_url) as a:
        assert await a.exists(entries[0].locator["cid"])  # unseed keeps archives


async def test_abort_leaves_the_previous_state(make_side, node_a: LocalCodexNode) -> None:
    owner = await make_side("owner", node_a)
    first = await publish(owner, week_messages(0), T0, T0 + WEEK)
    publication = await owner.backend.open_publication(COMMUNITY, False)
    data = b"\x0a\x00" + os.urandom(70_000)
    meta = ArchiveMetadata(T0 + WEEK, T0 + 2 * WEEK, TOPICS)
    aid = await publication.add(BuiltArchive(meta, data, 1, False))
    await publication.commit()
    assert owner.backend.current_link(COMMUNITY) != first.link
    await publication.abort()  # e.g. another backend of the same run failed
    assert owner.backend.current_link(COMMUNITY) == first.link
    assert [e.archive_id for e in await owner.backend.read_index(COMMUNITY)] == first.archive_ids
    assert not owner.backend.files.has_archive(COMMUNITY, aid)
    async with CodexClient(node_a.api_url) as a:
        assert not await a.exists(local_cid(data))
        assert await a.exists(first.link)  # re-stored after the commit had removed it


async def test_migrated_bytes_keep_their_content(make_side, node_a: LocalCodexNode) -> None:
    """Publishing stored bytes as they are (migration) gives the CID of those bytes."""
    owner = await make_side("owner", node_a)
    publication = await owner.backend.open_publication(COMMUNITY, False)
    data = os.urandom(200_000)
    meta = ArchiveMetadata(T0, T0 + WEEK, TOPICS)
    aid = await publication.add(BuiltArchive(meta, data, -1, False))
    result = await publication.commit()
    entry = pb.CodexWakuMessageArchiveIndexMetadata(
        metadata=metadata_to_pb(meta), cid=local_cid(data)
    )
    assert result.archive_ids == [aid] == [archive_id(entry)]
    assert await owner.backend.read_archive_bytes(COMMUNITY, None, aid) == data


# member failures ---------------------------------------------------------------------------------
async def test_a_lost_archive_fails_alone_and_is_retried_next_run(
    make_side, node_a: LocalCodexNode, node_b: LocalCodexNode
) -> None:
    owner = await make_side("owner", node_a)
    member = await make_side("member", node_b, timeouts=Timeouts(index=15, archive=8, download=60))
    result = await publish(
        owner, week_messages(0) + week_messages(1) + week_messages(2), T0, T0 + 3 * WEEK
    )
    entries = await owner.backend.read_index(COMMUNITY)
    lost = entries[1]
    async with CodexClient(node_a.api_url) as a:
        await a.delete(lost.locator["cid"])

    info = await member.backend.download_history_archives(COMMUNITY, result.link, asyncio.Event())

    assert info.failed_archive_ids == [lost.archive_id]
    assert info.total_downloaded == 2
    failed = member.of(HistoryArchiveDownloadFailed)
    assert [e.archive_id for e in failed] == [lost.archive_id] and failed[0].reason
    assert not member.store.has_archive_id(COMMUNITY, lost.archive_id)

    await owner.backend.seed(COMMUNITY, result.link)  # the owner re-uploads its local copy
    info = await member.backend.download_history_archives(COMMUNITY, result.link, asyncio.Event())
    assert (info.total_downloaded, info.failed_archive_ids) == (3, [])


async def test_size_cap_fails_archives_before_download(
    make_side, node_a: LocalCodexNode, node_b: LocalCodexNode
) -> None:
    owner = await make_side("owner", node_a)
    member = await make_side("member", node_b, max_archive_size=100_000)
    result = await publish(owner, week_messages(0), T0, T0 + WEEK)
    info = await member.backend.download_history_archives(COMMUNITY, result.link, asyncio.Event())
    assert len(info.failed_archive_ids) == 1 and info.total_downloaded == 0
    assert "cap" in member.of(HistoryArchiveDownloadFailed)[0].reason
    archives_dir = member.backend.files.community_dir(COMMUNITY) / "archives"
    assert not archives_dir.exists() or os.listdir(archives_dir) == []


async def test_cancellation_during_archives_returns_cancelled(
    make_side, node_a: LocalCodexNode, node_b: LocalCodexNode
) -> None:
    cancel = asyncio.Event()

    def on_event(event: ArchiveEvent) -> None:
        if isinstance(event, HistoryArchiveDownloaded):
            cancel.set()

    owner = await make_side("owner", node_a)
    member = await make_side("member", node_b, concurrency=1, on_event=on_event)
    messages = [m for w in range(6) for m in week_messages(w)]
    result = await publish(owner, messages, T0, T0 + 6 * WEEK)

    info = await member.backend.download_history_archives(COMMUNITY, result.link, cancel)

    assert info.cancelled and info.failed_archive_ids == []
    assert 1 <= info.total_downloaded < 6
    assert len(member.store.downloaded_archives(COMMUNITY)) == info.total_downloaded
    archives_dir = member.backend.files.community_dir(COMMUNITY) / "archives"
    assert not [n for n in os.listdir(archives_dir) if n.startswith(".")]  # no temp left
    # The next run completes what is missing.
    info = await member.backend.download_history_archives(COMMUNITY, result.link, asyncio.Event())
    assert (info.total_downloaded, info.cancelled) == (6, False)


async def test_cancellation_during_the_index_returns_cancelled(
    make_side, patient_node: LocalCodexNode
) -> None:
    member = await make_side("member", patient_node)
    unknown = local_cid(os.urandom(1000))  # nobody has it: the node keeps searching
    cancel = asyncio.Event()
    client = member.backend.client
    asking = client.manifest

    async def manifest_then_cancel(cid: str) -> DataItem:
        # Cancel once the index is being fetched (the node would search for minutes).
        request = asyncio.ensure_future(asking(cid))
        cancel.set()
        return await request

    client.manifest = manifest_then_cancel  # type: ignore[method-assign]
    # Cancelled, not failed: neither the node's search nor the 15 s index timeout ended it.
    info = await member.backend.download_history_archives(COMMUNITY, unknown, cancel)
    assert info.cancelled and info.failed_archive_ids == []


async def test_unknown_index_is_a_bounded_wait(make_side, patient_node: LocalCodexNode) -> None:
    member = await make_side("member", patient_node, timeouts=Timeouts(index=1.5))
    unknown = local_cid(os.urandom(1000))
    # The index budget ends the wait (the patient node would search for minutes).
    with pytest.raises(ArchiveTimeoutError, match=r"Codex index .* timed out after 1\.5 s"):
        await member.backend.download_history_archives(COMMUNITY, unknown, asyncio.Event())


@pytest.mark.parametrize(
    "link",
    ["garbage", MAGNET, "zDzSvJTezk7bJNQqFq8k1iHXY84psNuUfZVusA5bBQQUSuyzDSVL", ""],
    ids=["garbage", "magnet", "tree-cid", "empty"],
)
async def test_bad_links_are_rejected_before_any_call(
    make_side, node_b: LocalCodexNode, link: str
) -> None:
    member = await make_side("member", node_b)
    assert not CodexBackend.handles_link(link)
    with pytest.raises(InvalidLinkError):
        await member.backend.download_history_archives(COMMUNITY, link, asyncio.Event())


def test_handles_link_takes_manifest_cids_only() -> None:
    assert CodexBackend.handles_link("zDvZRwzm1ePSzKSXt57D5YxHwcSDmsCyYN65wW4HT7fuX9HrzFXy")
    assert not CodexBackend.handles_link(
        "bafybeihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
    )
    assert not CodexBackend.handles_link(MAGNET)


async def test_an_index_with_a_bad_cid_is_rejected(
    make_side, node_a: LocalCodexNode, node_b: LocalCodexNode
) -> None:
    entry = pb.CodexWakuMessageArchiveIndexMetadata(
        metadata=metadata_to_pb(ArchiveMetadata(T0, T0 + WEEK, TOPICS)), cid="not-a-cid"
    )
    index = pb.CodexWakuMessageArchiveIndex()
    index.archives[archive_id(entry)].CopyFrom(entry)
    async with CodexClient(node_a.api_url) as a:
        link = await a.upload(encode_index(index, COMMUNITY, None))
    member = await make_side("member", node_b)
    with pytest.raises(MalformedIndexError, match="bad CID"):
        await member.backend.download_history_archives(COMMUNITY, link, asyncio.Event())


async def test_an_index_that_is_not_an_index_is_rejected(
    make_side, node_a: LocalCodexNode, node_b: LocalCodexNode
) -> None:
    async with CodexClient(node_a.api_url) as a:
        link = await a.upload(b"\xff" * 5000)
    member = await make_side("member", node_b)
    with pytest.raises(MalformedIndexError):
        await member.backend.download_history_archives(COMMUNITY, link, asyncio.Event())


async def test_load_falls_back_to_the_node_when_the_local_copy_is_gone(
    make_side, node_a: LocalCodexNode, node_b: LocalCodexNode
) -> None:
    owner = await make_side("owner", node_a)
    member = await make_side("member", node_b)
    result = await publish(owner, week_messages(0), T0, T0 + WEEK)
    await member.backend.download_history_archives(COMMUNITY, result.link, asyncio.Event())
    aid = result.archive_ids[0]
    member.backend.files.remove_archive(COMMUNITY, aid)
    messages = await member.backend.load_archive_messages(COMMUNITY, result.link, aid)
    assert len(messages) == 60
    with pytest.raises(ArchiveNotFoundError, match="missing from the Codex index"):
        await member.backend.read_archive_bytes(COMMUNITY, result.link, "0x" + "00" * 32)


# lifecycle and plugin ------------------------------------------------------------------------
async def test_start_fails_typed_without_a_node(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite")
    context = BackendContext(tmp_path / "codex", store, HashRatchet(store), lambda e: None)
    backend = CodexBackend(
        context,
        CodexSettings(api_url="http://127.0.0.1:9/api/codex/v1", retry={"attempts": 1}),
    )
    with pytest.raises(CodexUnavailable, match="managed_node"):
        await backend.start()
    assert not backend.is_started
    store.close()


@pytest.mark.parametrize("api", ["auto", "storage-v1"])
async def test_managed_node_is_started_and_stopped(tmp_path: Path, api: str) -> None:
    store = Store(tmp_path / "db.sqlite")
    context = BackendContext(tmp_path / "codex", store, HashRatchet(store), lambda e: None)
    backend = CodexBackend(context, CodexSettings(api=api, managed_node={"enabled": True}))
    await backend.start()
    try:
        assert backend.node is not None
        assert backend.client.api_url == backend.node.api_url
        prefix = "/api/storage/v1" if api == "storage-v1" else "/api/codex/v1"
        assert backend.node.api_url.endswith(prefix)
        cid = await backend.client.upload(b"hello")
        assert await backend.client.exists(cid)
        assert (tmp_path / "codex" / "node").is_dir()
    finally:
        await backend.stop()
        store.close()
    assert not backend.is_started


def test_plugin_registers_the_factory_with_its_settings(tmp_path: Path) -> None:
    factories = backend_factories(plugin_manager())
    factory = factories["logos-storage"]
    assert factory.backend_class is CodexBackend and factory.settings_model is CodexSettings
    assert factory.handles_link("zDvZRwzm1ePSzKSXt57D5YxHwcSDmsCyYN65wW4HT7fuX9HrzFXy")
    store = Store(tmp_path / "db.sqlite")
    context = BackendContext(tmp_path / "codex", store, HashRatchet(store), lambda e: None)
    backend = factory.create(context, {"api_url": "http://127.0.0.1:8081/api/codex/v1"})
    assert isinstance(backend, CodexBackend)
    with pytest.raises(ConfigError, match=r"backend\.logos-storage\.upload_concurency"):
        factory.create(context, {"upload_concurency": 3})
    store.close()


# nodes killed mid-download (subprocess nodes, SIGKILL) -----------------------------------------
FAST_RETRY = {"attempts": 2, "backoff": 0.05, "backoff_max": 0.1}


def assert_no_temp_files(side: Side) -> None:
    archives_dir = side.backend.files.community_dir(COMMUNITY) / "archives"
    assert not [n for n in os.listdir(archives_dir) if n.startswith(".")]


async def test_member_node_killed_mid_download_then_restarted(
    make_side, node_a: LocalCodexNode, codex_process
) -> None:
    proc = await codex_process("member-node", "--bootstrap-node", node_a.spr)
    owner = await make_side("owner", node_a)
    messages = [m for w in range(8) for m in week_messages(w, count=40, size=30_000)]
    result = await publish(owner, messages, T0, T0 + 8 * WEEK)

    crashes = []

    def crash_after_first(event: ArchiveEvent) -> None:
        if isinstance(event, HistoryArchiveDownloaded) and not crashes:
            crashes.append(proc.kill())  # SIGKILL while the next archives stream

    member = await make_side(
        "member", proc.api_url, concurrency=2, on_event=crash_after_first, retry=FAST_RETRY
    )
    info = await member.backend.download_history_archives(COMMUNITY, result.link, asyncio.Event())

    assert not proc.running
    assert 1 <= info.total_downloaded < 8 and not info.cancelled
    assert len(info.failed_archive_ids) == 8 - info.total_downloaded  # none silently dropped
    reasons = [e.reason for e in member.of(HistoryArchiveDownloadFailed)]
    assert reasons and all("CodexUnavailable" in r for r in reasons)
    assert len(member.store.downloaded_archives(COMMUNITY)) == info.total_downloaded
    assert_no_temp_files(member)

    await proc.astart()  # same port, same data dir and identity
    info = await member.backend.download_history_archives(COMMUNITY, result.link, asyncio.Event())
    assert (info.total_downloaded, info.failed_archive_ids) == (8, [])
    for aid in result.archive_ids:
        assert await member.backend.load_archive_messages(COMMUNITY, result.link, aid)


async def test_owner_node_killed_mid_download_then_restarted(make_side, codex_process) -> None:
    proc = await codex_process("owner-node")
    owner = await make_side("owner", proc.api_url)
    messages = [m for w in range(6) for m in week_messages(w, count=40, size=30_000)]
    result = await publish(owner, messages, T0, T0 + 6 * WEEK)
    member_node = LocalCodexNode(
        owner.store.path.parent.parent / "member-node",
        block_retries=2,
        retry_interval=0.1,
        bootstrap=(proc.spr,),
    )

    crashes = []

    def crash_after_first(event: ArchiveEvent) -> None:
        if isinstance(event, HistoryArchiveDownloaded) and not crashes:
            crashes.append(proc.kill())

    async with member_node:
        member = await make_side("member", member_node, concurrency=1, on_event=crash_after_first)
        info = await member.backend.download_history_archives(
            COMMUNITY, result.link, asyncio.Event()
        )
        assert 1 <= info.total_downloaded < 6, (info, member.events)
        assert len(info.failed_archive_ids) == 6 - info.total_downloaded
        assert_no_temp_files(member)

        await proc.astart()
        assert await owner.backend.is_seeding(COMMUNITY, result.link)  # blocks were on disk
        info = await member.backend.download_history_archives(
            COMMUNITY, result.link, asyncio.Event()
        )
        assert (info.total_downloaded, info.failed_archive_ids) == (6, []), member.events
        await member.backend.stop()


# timeouts, caps and cross-backend planning -------------------------------------------------------
async def test_per_archive_and_overall_timeouts_are_separate(
    make_side, node_a: LocalCodexNode, codex_node_factory
) -> None:
    owner = await make_side("owner", node_a)
    result = await publish_two_weeks(owner)
    entries = await owner.backend.read_index(COMMUNITY)
    async with CodexClient(node_a.api_url) as a:
        for entry in entries:
            await a.delete(entry.locator["cid"])  # nobody has the archives any more
    # The member's node keeps searching for minutes, as a real node does.
    patient = await codex_node_factory("patient-b", block_retries=3000, bootstrap=[node_a.spr])

    # Which budget ended each archive is in its failure reason (the node would search on).
    for name, timeouts, reason in (
        (
            "member",
            Timeouts(index=10, archive=0.5, download=30),
            "after 0.5 s (per-archive timeout)",
        ),
        ("other", Timeouts(index=10, archive=30, download=1.0), "the whole download exceeded 1 s"),
    ):
        member = await make_side(name, patient, timeouts=timeouts, concurrency=1)
        info = await member.backend.download_history_archives(
            COMMUNITY, result.link, asyncio.Event()
        )
        assert sorted(info.failed_archive_ids) == sorted(e.archive_id for e in entries)
        failures = member.of(HistoryArchiveDownloadFailed)
        assert len(failures) == len(entries)
        assert all(reason in e.reason for e in failures), (name, failures)


async def test_an_oversized_index_is_refused(
    make_side, node_a: LocalCodexNode, node_b: LocalCodexNode
) -> None:
    owner = await make_side("owner", node_a)
    result = await publish(owner, week_messages(0), T0, T0 + WEEK)
    member = await make_side("member", node_b, max_index_size=50)
    with pytest.raises(SizeLimitError, match="cap"):
        await member.backend.download_history_archives(COMMUNITY, result.link, asyncio.Event())


async def test_windows_held_through_another_backend_are_skipped(
    make_side, node_a: LocalCodexNode, node_b: LocalCodexNode
) -> None:
    owner = await make_side("owner", node_a)
    result = await publish_two_weeks(owner)
    member = await make_side("member", node_b)
    # Week 0 was already downloaded as a BitTorrent archive (another ID, same window).
    member.store.save_archive_id(
        COMMUNITY, "0x" + "ab" * 32, backend="torrent", from_ts=T0, to_ts=T0 + WEEK
    )
    info = await member.backend.download_history_archives(COMMUNITY, result.link, asyncio.Event())
    week0 = (await owner.backend.read_index(COMMUNITY))[0].archive_id
    assert info.skipped_archive_ids == [week0]
    assert [e.archive_id for e in member.of(HistoryArchiveDownloaded)] == [result.archive_ids[1]]


# other node generations and builds (issue 13) ---------------------------------------------------
@pytest.mark.parametrize("kind", ["storage-v1", "legacy-build"])
async def test_owner_and_member_on_other_node_generations(
    make_side, codex_node_factory, kind: str
) -> None:
    """Logos Storage nodes (their own manifest coder) and the pre-v0.2.0 build (upload time in
    every manifest, no /exists, no DELETE): the owner publishes the CIDs the node gives once
    their manifests check out, the member verifies by tree CID and the served manifest."""
    options = {"api": "storage-v1"} if kind == "storage-v1" else {"legacy_build": True}
    a = await codex_node_factory("gen-a", **options)
    b = await codex_node_factory("gen-b", bootstrap=[a.spr], **options)
    owner = await make_side("owner", a)
    member = await make_side("member", b)
    messages = week_messages(0) + week_messages(1)
    result = await publish(owner, messages, T0, T0 + 2 * WEEK)
    assert result.link is not None and len(result.archive_ids) == 2
    if kind == "storage-v1":
        assert owner.backend.coder is ManifestCoder.STORAGE
    else:
        assert owner.backend.coder is None  # its CIDs cannot be predicted
    assert await owner.backend.is_seeding(COMMUNITY, result.link)

    info = await member.backend.download_history_archives(COMMUNITY, result.link, asyncio.Event())
    assert (info.total_downloaded, info.failed_archive_ids) == (2, [])
    second = await publish(owner, week_messages(2), T0 + 2 * WEEK, T0 + 3 * WEEK)
    assert second.link != result.link and second.index_size == 3  # old index removal: no error


async def test_aborting_on_a_node_without_delete_does_not_fail(
    make_side, codex_node_factory
) -> None:
    node = await codex_node_factory("legacy", legacy_build=True)
    owner = await make_side("owner", node)
    publication = await owner.backend.open_publication(COMMUNITY, False)
    meta = ArchiveMetadata(T0, T0 + WEEK, (b"\x01\x02\x03\x04",))
    await publication.add(BuiltArchive(meta, os.urandom(100_000), -1, False))
    await publication.abort()
    assert owner.backend.current_link(COMMUNITY) is None


@pytest.fixture
async def lying_proxy(codex_node_factory) -> AsyncIterator[tuple[str, dict[str, object]]]:
    """A proxy in front of a node that rewrites the manifest JSON fields put in `lies`."""
    node = await codex_node_factory("honest")
    lies: dict[str, object] = {}
    http = httpx.AsyncClient(timeout=30, trust_env=False)
    root = node.api_url.rsplit("/api/", 1)[0]

    async def forward(request: web.Request) -> web.StreamResponse:
        url = root + request.path_qs
        upstream = await http.request(request.method, url, content=await request.read())
        body = upstream.content
        if request.path.endswith("/network/manifest") and upstream.status_code == 200:
            obj = json.loads(body)
            obj["manifest"].update(lies)
            body = json.dumps(obj).encode()
        return web.Response(
            status=upstream.status_code,
            body=body,
            headers={"Content-Type": upstream.headers.get("content-type", "text/plain")},
        )

    app = web.Application(client_max_size=64 << 20)
    app.router.add_route("*", "/{tail:.*}", forward)
    runner, url = await serve(app)
    yield url + "/api/codex/v1", lies
    await runner.cleanup()
    await http.aclose()


@pytest.mark.parametrize(
    "lie",
    [{"filename": "other.bin"}, {"datasetSize": 1}, {"treeCid": local_cid(b"x")}],
    ids=["filename", "size", "tree"],
)
async def test_a_node_lying_about_its_manifest_publishes_nothing(
    make_side, lying_proxy, lie: dict[str, object]
) -> None:
    url, lies = lying_proxy
    owner = await make_side("owner", url)
    owner.backend.coder = None  # as a node whose coder is not known yet
    lies.update(lie)
    publication = await owner.backend.open_publication(COMMUNITY, False)
    meta = ArchiveMetadata(T0, T0 + WEEK, (b"\x01\x02\x03\x04",))
    with pytest.raises(CodexIntegrityError):
        await publication.add(BuiltArchive(meta, os.urandom(100_000), -1, False))
    await publication.abort()
    assert owner.backend.current_link(COMMUNITY) is None
