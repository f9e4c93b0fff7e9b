"""The streaming member pipeline on scripted backends and a ManualClock: archives import while
later ones still download, newest first; supersession and cancellation mid-run; the stored
link arriving again resumes pending imports; the embedded importer commits archives whole
while a host importer still gets paced batches."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from scripted import T0, Medium, messages, publish, published, scripted_node, signed_community

from archive_service.config import ImportSettings
from archive_service.crypto.signing import sign_archive_link
from archive_service.events import HistoryArchiveImported, HistoryArchivesDownloadCompleted
from archive_service.hookspecs import hookimpl
from archive_service.host import StoreImporter
from archive_service.manager import LinkReason
from archive_service.manager.imports import whole_archive_import
from archive_service.plugins import plugin_manager
from archive_service.store import Store
from archive_service.wire import pb

pytestmark = pytest.mark.timeout(60)


async def test_an_archive_is_imported_while_later_ones_still_download(tmp_path: Path) -> None:
    # Four weekly archives of 7 messages each (one per day).
    medium, _, community, link = published(28, step=24 * 3600)
    async with scripted_node(tmp_path, medium=medium, community=community) as node:
        backend = node.backends["scripted"]
        release = asyncio.Event()
        backend.hold_after[(link, 1)] = release
        newest = node.host.next_event(HistoryArchiveImported)
        await node.manager.handle_request_to_join_response(community.id, link)
        first = await node.run_until(newest)
        # The download is held after its first (newest) archive: that one is imported
        # already, the others are not even downloaded, and the run has not finished.
        assert node.manager.running_download(community.id) == ("scripted", link)
        assert not node.host.of(HistoryArchivesDownloadCompleted)
        windows = sorted(a.from_ts for a in node.store.downloaded_archives(community.id))
        assert len(windows) == 1
        assert first.archive_id == node.store.downloaded_archives(community.id)[0].archive_id
        assert len(node.host.messages) == 7
        release.set()
        await node.idle(community.id)
        imported = node.host.of(HistoryArchiveImported)
        assert len(imported) == 4 and len(node.host.messages) == 28
        # Newest window first, in the order the download delivered them.
        order = [
            next(
                a.from_ts
                for a in node.store.downloaded_archives(community.id)
                if a.archive_id == e.archive_id
            )
            for e in imported
        ]
        assert order == sorted(order, reverse=True)


async def test_a_superseding_link_mid_run_keeps_what_was_imported_and_finishes(
    tmp_path: Path,
) -> None:
    medium = Medium()
    private, community = signed_community()
    stored = messages(community, 21, T0, step=24 * 3600)
    first = publish(medium, "scripted", community, stored[:14])
    second = publish(medium, "scripted", community, stored)
    async with scripted_node(tmp_path, medium=medium, community=community) as node:
        backend = node.backends["scripted"]
        backend.hold_after[(first, 1)] = asyncio.Event()  # never released: superseded
        imported = node.host.next_event(HistoryArchiveImported)
        handle = node.manager.handle_archive_link_message
        assert (await handle(sign_archive_link(private, 1, first))).accepted
        await node.run_until(imported)
        assert (await handle(sign_archive_link(private, 2, second))).accepted
        await node.idle(community.id)
        runs = node.host.of(HistoryArchivesDownloadCompleted)
        assert [(r.link, r.cancelled) for r in runs] == [(first, True), (second, False)]
        assert not node.store.archives_to_import(community.id)
        assert {m.hash for m in node.host.messages} == {m.hash for m in stored}
        assert node.store.get_archive_link(community.id, "scripted").link == second


async def test_a_start_resumes_the_imports_and_the_download_a_stop_interrupted(
    tmp_path: Path,
) -> None:
    medium, _, community, link = published(21, step=24 * 3600)
    closed = ImportSettings(initial_delay=10_000, fast=True, fast_rate=1000, tick=0.1)
    async with scripted_node(
        tmp_path, medium=medium, import_settings=closed, community=community
    ) as node:
        backend = node.backends["scripted"]
        held = backend.hold_after[(link, 2)] = asyncio.Event()
        await node.manager.handle_request_to_join_response(community.id, link)
        await asyncio.wait_for(backend.holding.wait(), 10)
        assert node.manager.running_download(community.id) == ("scripted", link)
        await node.manager.stop()  # cancels the held run; nothing imported yet
        assert len(node.store.archives_to_import(community.id)) == 2
        assert node.store.get_archive_link(community.id, "scripted").link == ""  # not seen
        held.set()
        await node.manager.start()  # resumes the pending imports and the interrupted run
        assert node.manager.downloads.busy(community.id)  # the run was scheduled again
        node.manager.open_import_gate_now()
        await node.idle(community.id)
        assert backend.calls["download"] == 2
        assert node.store.get_archive_link(community.id, "scripted").link == link
        assert not node.store.archives_to_import(community.id)
        assert len(node.store.downloaded_archives(community.id)) == 3
        assert len(node.host.messages) == 21
        # A finished run is not resumed again.
        await node.manager.stop()
        await node.manager.start()
        await node.idle(community.id)
        assert backend.calls["download"] == 2


async def test_the_stored_link_again_resumes_imports_a_killed_member_left(tmp_path: Path) -> None:
    medium, private, community, link = published(14, step=24 * 3600)
    closed = ImportSettings(initial_delay=10_000, fast=True, fast_rate=1000, tick=0.1)
    async with scripted_node(
        tmp_path, medium=medium, import_settings=closed, community=community
    ) as node:
        handle = node.manager.handle_archive_link_message
        assert (await handle(sign_archive_link(private, 5, link))).accepted
        worker = node.manager.downloads.worker(community.id)
        assert worker is not None
        await asyncio.wait_for(worker, 10)
        assert node.store.get_archive_link(community.id, "scripted").link == link
        assert len(node.store.archives_to_import(community.id)) == 2
        # The same message again (the CLI run again): acted on, so the caller waits for it.
        decision = await handle(sign_archive_link(private, 5, link))
        assert decision.reason is LinkReason.RESUMED and decision.accepted
        node.manager.open_import_gate_now()
        await node.idle(community.id)
        assert not node.store.archives_to_import(community.id)
        assert len(node.host.messages) == 14
        # Nothing left to do: the same link is the same link again.
        assert (await handle(sign_archive_link(private, 5, link))).reason is LinkReason.SAME_LINK
        # The resumed run found every archive recorded; nothing was downloaded twice.
        assert node.backends["scripted"].calls["download"] == 2
        assert len(node.store.downloaded_archives(community.id)) == 2


class _HostImporter:
    @hookimpl
    def archive_messages_import(self, community_id: bytes, messages: list[pb.WakuMessage]) -> int:
        return len(messages)


def test_whole_archive_import_only_without_a_host_importer(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    try:
        embedded = StoreImporter(store)
        assert whole_archive_import(plugin_manager(load_entrypoints=False, plugins=[embedded]))

        both = plugin_manager(load_entrypoints=False, plugins=[embedded, _HostImporter()])
        assert not whole_archive_import(both)
        assert not whole_archive_import(plugin_manager(load_entrypoints=False, plugins=[]))
    finally:
        store.close()


async def test_the_embedded_importer_commits_each_archive_whole(tmp_path: Path) -> None:
    medium = Medium()
    _, community = signed_community()
    stored = messages(community, 21, T0, step=24 * 3600)
    link = publish(medium, "scripted", community, stored)
    async with scripted_node(tmp_path, medium=medium) as node:
        # The embedded importer alone: the scripted host stops handling messages.
        node.manager.pm.unregister(node.host)
        calls: list[int] = []

        class Spy(StoreImporter):
            @hookimpl(trylast=True)
            def archive_import_archive(
                self, community_id: bytes, archive_id: str, messages: list[pb.WakuMessage]
            ) -> int:
                calls.append(len(messages))
                return super().archive_import_archive(community_id, archive_id, messages)

        node.manager.pm.register(Spy(node.store))
        node.store.save_community(community)
        await node.manager.handle_request_to_join_response(community.id, link)
        await node.idle(community.id)
        assert calls == [7, 7, 7]  # one call, one transaction, per archive
        assert node.store.message_hashes() == {m.hash for m in stored}
        assert not node.store.archives_to_import(community.id)


async def test_the_same_message_during_a_run_resumed_at_start_waits_for_that_run(
    tmp_path: Path,
) -> None:
    medium, private, community, link = published(21, step=24 * 3600)
    async with scripted_node(tmp_path, medium=medium, community=community) as node:
        backend = node.backends["scripted"]
        held = backend.hold_after[(link, 2)] = asyncio.Event()
        handle = node.manager.handle_archive_link_message
        assert (await handle(sign_archive_link(private, 7, link))).accepted
        await asyncio.wait_for(backend.holding.wait(), 10)
        await node.manager.stop()
        backend.holding.clear()
        await node.manager.start()  # the interrupted run resumes, and holds again
        await asyncio.wait_for(backend.holding.wait(), 10)
        decision = await handle(sign_archive_link(private, 7, link))
        assert decision.reason is LinkReason.RESUMED  # acted on: a caller waits for the run
        assert backend.calls["download"] == 2  # the running run was not restarted
        again = await handle(sign_archive_link(private, 7, link))
        assert again.reason is LinkReason.SAME_LINK  # adopted: now an ordinary run in flight
        held.set()
        await node.idle(community.id)
        assert backend.calls["download"] == 2
        assert node.store.get_archive_link(community.id, "scripted").link == link
        assert len(node.host.messages) == 21
