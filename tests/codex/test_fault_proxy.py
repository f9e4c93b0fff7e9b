"""The Codex backend through a fault-injecting proxy (faultproxy.py) in front of a real local
Codex-compatible node: 500s, hangs, cut streams, wrong bytes and a 1 KiB/s trickle.

Owner: a publication either succeeds or fails with one typed Codex error of one line, and a
failed one publishes nothing (no link, no committed state); the next clean run publishes.
Member: a download either imports exactly the owner's messages or reports which archive
failed, keeps nothing unverified, and fetches only that archive on the next run.

Every wait is bounded by the client's own timeouts (a few seconds here) and the test timeout.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import weekly_history
from archive_service_codex.client import CodexClient, CodexError
from archive_service_codex.settings import CodexSettings, CodexTimeoutSettings, RetrySettings
from faultproxy import (
    DOWNLOAD_NETWORK,
    MANIFEST,
    UPLOAD,
    Fault,
    FaultProxy,
    Route,
)
from sides import Side, Sides
from weekly_history import COMMUNITY, T0, WEEK, publish

from archive_service.errors import ArchiveServiceError
from archive_service.events import (
    HistoryArchiveDownloaded,
    HistoryArchiveDownloadFailed,
    IndexDownloadCompleted,
)
from archive_service.interface import PublishResult, Timeouts
from archive_service.types import StoredMessage

pytestmark = pytest.mark.timeout(90)

WEEKS = 3
# Short client budgets: a hang or a trickle ends in a few seconds, a healthy call never nears.
CLIENT_TIMEOUTS = CodexTimeoutSettings(
    connect=2, control=4, upload=4, network=4, download=6, idle=2
)
FAST_RETRY = RetrySettings(attempts=2, backoff=0.01, backoff_max=0.02)
CORE_TIMEOUTS = Timeouts(index=10, archive=8, download=40)


def history() -> list[StoredMessage]:
    """Three weekly archives of ~180 KB each: several 64 KiB blocks per dataset."""
    return [m for week in range(WEEKS) for m in weekly_history.week_messages(week, 20, 9000)]


@pytest.fixture
async def proxy(codex_node_factory) -> AsyncIterator[FaultProxy]:
    node = await codex_node_factory("node")
    proxy = FaultProxy(node.api_url)
    await proxy.start()
    proxy.node_api_url = node.api_url  # type: ignore[attr-defined]  # for checks past the proxy
    yield proxy
    await proxy.stop()


@pytest.fixture
async def make_side(tmp_path: Path, proxy: FaultProxy) -> AsyncIterator[Callable[..., object]]:
    sides = Sides(tmp_path)

    async def make(name: str) -> Side:
        settings = CodexSettings(api_url=proxy.api_url, timeouts=CLIENT_TIMEOUTS, retry=FAST_RETRY)
        return await sides.add(name, settings, CORE_TIMEOUTS)

    yield make
    await sides.close()


async def publish_history(owner: Side) -> PublishResult:
    return await publish(owner, history(), T0, T0 + WEEKS * WEEK)


async def published_pair(make_side) -> tuple[Side, Side, str]:
    """An owner that published the history, a member beside it, and the link."""
    owner = await make_side("owner")
    member = await make_side("member")
    result = await publish_history(owner)
    assert result.link is not None
    return owner, member, result.link


def one_line(error: BaseException) -> str:
    text = str(error)
    assert text and "\n" not in text, f"not one line: {text!r}"
    return text


# --- owner ------------------------------------------------------------------------------------
OWNER_FAULTS: dict[str, tuple[Route, Fault, int | None, int]] = {
    # name: (route, fault, times (None: every call), matching calls passed through first)
    "500-every-upload": (UPLOAD, Fault.error(500), None, 0),
    "500-after-the-node-stored-it": (UPLOAD, Fault.error(500, forward=True), None, 0),
    "500-on-the-index-upload": (UPLOAD, Fault.error(500), None, WEEKS),
    "hang-every-upload": (UPLOAD, Fault.hang(), None, 0),
    "cut-every-answer": (UPLOAD, Fault.cut(after=10), None, 0),
    "cut-one-answer": (UPLOAD, Fault.cut(after=10), 1, 1),
    "dropped-every-time": (UPLOAD, Fault.drop(), None, 0),
    "wrong-cid-answered": (UPLOAD, Fault.corrupt(5), None, 0),
    "wrong-index-cid-answered": (UPLOAD, Fault.corrupt(-3), None, WEEKS),
}
OWNER_SURVIVES: dict[str, tuple[Route, Fault, int | None, int]] = {
    "503-once": (UPLOAD, Fault.error(503), 1, 0),
    "dropped-once": (UPLOAD, Fault.drop(), 1, 1),
    "trickle-answers": (UPLOAD, Fault.trickle(1024), None, 0),
}


@pytest.mark.parametrize("name", sorted(OWNER_FAULTS))
async def test_a_failed_upload_publishes_nothing(
    name: str, proxy: FaultProxy, make_side, tmp_path: Path
) -> None:
    route, fault, times, skip = OWNER_FAULTS[name]
    owner = await make_side("owner")
    rule = proxy.inject(route, fault, times=times, skip=skip)

    with pytest.raises(CodexError) as failed:
        await publish_history(owner)

    assert rule.fired.is_set()
    one_line(failed.value)
    assert owner.backend.current_link(COMMUNITY) is None
    assert owner.backend.files.read_owner_state(COMMUNITY) is None
    assert await owner.backend.read_index(COMMUNITY) == []
    # Without the fault the same history publishes in full.
    proxy.clear()
    result = await publish_history(owner)
    assert result.link is not None and result.index_size == WEEKS
    assert await owner.backend.is_seeding(COMMUNITY, result.link)


@pytest.mark.parametrize("name", sorted(OWNER_SURVIVES))
async def test_a_transient_or_slow_node_still_publishes(
    name: str, proxy: FaultProxy, make_side
) -> None:
    route, fault, times, skip = OWNER_SURVIVES[name]
    owner = await make_side("owner")
    rule = proxy.inject(route, fault, times=times, skip=skip)
    result = await publish_history(owner)
    assert rule.fired.is_set()
    assert result.link is not None and result.index_size == WEEKS
    assert owner.backend.current_link(COMMUNITY) == result.link
    async with CodexClient(proxy.node_api_url) as node:  # type: ignore[attr-defined]
        assert await node.exists(result.link)
        for entry in await owner.backend.read_index(COMMUNITY):
            assert await node.exists(entry.locator["cid"])


# --- member -----------------------------------------------------------------------------------
MEMBER_FAULTS: dict[str, tuple[Route, Fault]] = {
    "500": (DOWNLOAD_NETWORK, Fault.error(500)),
    "hang": (DOWNLOAD_NETWORK, Fault.hang()),
    "cut-mid-stream": (DOWNLOAD_NETWORK, Fault.cut(after=70_000)),
    "wrong-bytes": (DOWNLOAD_NETWORK, Fault.corrupt(100_000)),
    "wrong-last-byte": (DOWNLOAD_NETWORK, Fault.corrupt(-1)),
    "trickle-1KiB/s": (DOWNLOAD_NETWORK, Fault.trickle(1024)),
    "manifest-500": (MANIFEST, Fault.error(500)),
    "manifest-wrong-bytes": (MANIFEST, Fault.corrupt(-5)),
}


async def import_downloaded(member: Side, link: str, ids: list[str]) -> list[StoredMessage]:
    """What the member's importer stores: the messages of each downloaded archive."""
    messages: list[StoredMessage] = []
    for aid in ids:
        decoded = await member.backend.load_archive_messages(COMMUNITY, link, aid)
        messages += map(StoredMessage.from_pb, decoded)
    member.store.save_waku_messages(messages)
    return messages


def kept_files(side: Side) -> set[Path]:
    folder = side.backend.files.community_dir(COMMUNITY)
    return {p for p in folder.rglob("*") if p.is_file()} if folder.exists() else set()


def by_hash(messages: list[StoredMessage]) -> list[StoredMessage]:
    return sorted(messages, key=lambda m: m.hash)


@pytest.mark.parametrize("name", sorted(MEMBER_FAULTS))
async def test_a_member_reports_the_failed_archive_and_fetches_it_next_run(
    name: str, proxy: FaultProxy, make_side
) -> None:
    route, fault = MEMBER_FAULTS[name]
    owner, member, link = await published_pair(make_side)
    entries = await owner.backend.read_index(COMMUNITY)
    victim = entries[1]
    rule = proxy.inject(route, fault, cid=victim.locator["cid"])

    info = await member.backend.download_history_archives(COMMUNITY, link, asyncio.Event())

    assert rule.fired.is_set()
    assert info.failed_archive_ids == [victim.archive_id]
    assert info.total_downloaded == WEEKS - 1 and not info.cancelled
    got = {d.archive_id for d in member.store.downloaded_archives(COMMUNITY)}
    assert got == {e.archive_id for e in entries} - {victim.archive_id}
    # Nothing unverified is kept: no file for the victim, no temporary file left behind.
    files = member.backend.files
    assert kept_files(member) == {files.archive_path(COMMUNITY, a) for a in got} | {
        files.index_path(COMMUNITY, link)
    }
    # The importer gets exactly the messages of the archives that arrived.
    imported = await import_downloaded(member, link, sorted(got))
    windows = [(e.metadata.from_ts, e.metadata.to_ts) for e in entries if e.archive_id in got]
    expected = [m for m in history() if any(a <= m.timestamp < b for a, b in windows)]
    assert by_hash(imported) == by_hash(expected)

    # The node is healthy again: the next run fetches the failed archive only.
    proxy.clear()
    member.events.clear()
    again = await member.backend.download_history_archives(COMMUNITY, link, asyncio.Event())
    assert again.failed_archive_ids == [] and again.total_downloaded == WEEKS
    done = [e.archive_id for e in member.events if isinstance(e, HistoryArchiveDownloaded)]
    assert done == [victim.archive_id]
    imported += await import_downloaded(member, link, [victim.archive_id])
    assert by_hash(imported) == by_hash(history())
    assert member.store.count_waku_messages() == len(history())  # nothing twice


INDEX_FAULTS: dict[str, tuple[Route, Fault]] = {  # the index is a few hundred bytes
    "500": (DOWNLOAD_NETWORK, Fault.error(500)),
    "hang": (DOWNLOAD_NETWORK, Fault.hang()),
    "cut-mid-stream": (DOWNLOAD_NETWORK, Fault.cut(after=100)),
    "wrong-bytes": (DOWNLOAD_NETWORK, Fault.corrupt(50)),
    "trickle-8B/s": (DOWNLOAD_NETWORK, Fault.trickle(8)),
    "manifest-wrong-bytes": (MANIFEST, Fault.corrupt(-5)),
}


@pytest.mark.parametrize("name", sorted(INDEX_FAULTS))
async def test_a_failed_index_download_keeps_nothing_and_retries(
    name: str, proxy: FaultProxy, make_side
) -> None:
    route, fault = INDEX_FAULTS[name]
    _owner, member, link = await published_pair(make_side)
    rule = proxy.inject(route, fault, cid=link)

    with pytest.raises(ArchiveServiceError) as failed:
        await member.backend.download_history_archives(COMMUNITY, link, asyncio.Event())

    assert rule.fired.is_set()
    one_line(failed.value)
    assert member.store.downloaded_archives(COMMUNITY) == []
    assert not any(isinstance(e, IndexDownloadCompleted) for e in member.events)
    assert kept_files(member) == set()
    proxy.clear()
    info = await member.backend.download_history_archives(COMMUNITY, link, asyncio.Event())
    assert (info.total_downloaded, info.failed_archive_ids) == (WEEKS, [])


async def test_a_manifest_claiming_a_huge_dataset_is_refused_before_any_byte(
    proxy: FaultProxy, make_side
) -> None:
    owner, member, link = await published_pair(make_side)
    victim = (await owner.backend.read_index(COMMUNITY))[0]
    async with CodexClient(proxy.node_api_url) as node:  # type: ignore[attr-defined]
        item = await node.manifest(victim.locator["cid"])
    lie = {
        "cid": victim.locator["cid"],
        "manifest": {
            "treeCid": item.manifest.tree_cid,
            "datasetSize": 1 << 50,  # a petabyte
            "blockSize": item.manifest.block_size,
            "filename": item.manifest.filename,
            "mimetype": item.manifest.mimetype,
            "protected": False,
        },
    }
    proxy.inject(MANIFEST, Fault.corrupt(body=json.dumps(lie).encode()), cid=victim.locator["cid"])
    info = await member.backend.download_history_archives(COMMUNITY, link, asyncio.Event())
    assert info.failed_archive_ids == [victim.archive_id]
    assert proxy.count(DOWNLOAD_NETWORK) == WEEKS  # the index and the two others; not the lie
    (failure,) = [e for e in member.events if isinstance(e, HistoryArchiveDownloadFailed)]
    assert "over the cap" in failure.reason


async def test_deeply_nested_json_from_the_node_is_a_protocol_error(
    proxy: FaultProxy, make_side
) -> None:
    owner, member, link = await published_pair(make_side)
    victim = (await owner.backend.read_index(COMMUNITY))[0]
    proxy.inject(MANIFEST, Fault.corrupt(body=b"[" * 100_000), cid=victim.locator["cid"])
    info = await member.backend.download_history_archives(COMMUNITY, link, asyncio.Event())
    assert info.failed_archive_ids == [victim.archive_id]
