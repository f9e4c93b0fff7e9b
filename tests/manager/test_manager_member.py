"""The member's side on a ManualClock and scripted backends: signed links through the façade,
"no key yet" and error back-offs with their exact deadlines, the import gate, supersession,
and the end-of-work event."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from scripted import (
    T0,
    WEEK,
    Medium,
    member_community,
    messages,
    publish,
    published,
    scripted_node,
    signed_community,
)

from archive_service.config import ImportSettings
from archive_service.crypto.signing import sign_archive_link
from archive_service.errors import DecryptionError, NoGroupKeyError
from archive_service.events import (
    ArchiveLinkIgnored,
    DownloadingHistoryArchivesFinished,
    HistoryArchiveImported,
    HistoryArchiveImportFailed,
    HistoryArchivesDownloadCompleted,
    HistoryArchivesDownloadFailed,
    HistoryArchivesSeeding,
)
from archive_service.manager import LinkReason

pytestmark = pytest.mark.timeout(60)


async def test_a_signed_link_is_decided_stored_and_downloaded(tmp_path: Path) -> None:
    medium, private, community, link = published(12)
    async with scripted_node(tmp_path, medium=medium, community=community) as node:
        handle = node.manager.handle_archive_link_message
        decision = await handle(sign_archive_link(private, 1234, link))
        assert decision.accepted and (decision.backend, decision.clock) == ("scripted", 1234)
        assert node.store.get_archive_link(community.id, "scripted").clock == 1234
        # In flight: the same link again is refused before the download even ran.
        assert (await handle(sign_archive_link(private, 1235, link))).reason == (
            LinkReason.SAME_LINK
        )
        await node.idle(community.id)
        assert node.store.get_archive_link(community.id, "scripted").link == link
        assert node.host.of(HistoryArchivesSeeding)[-1].link == link
        assert len(node.host.messages) == 12
        assert len(node.host.of(DownloadingHistoryArchivesFinished)) == 1

        refused = await handle(sign_archive_link(private, 1, "other:1"))
        assert refused.reason is LinkReason.UNSUPPORTED_LINK
        assert (await handle(b"not a signed message")).reason is LinkReason.BAD_SIGNATURE
        ignored = node.host.of(ArchiveLinkIgnored)
        assert [e.reason for e in ignored] == ["same-link", "no-backend-for-link", "bad-signature"]
        assert ignored[0].community_id == community.id.hex() or ignored[0].community_id
        assert ignored[1].detail == {"detail": "enabled backends: ['scripted']"}
        assert ignored[2].community_id == "" and ignored[2].detail["detail"]
        # A refusal changes nothing stored.
        assert node.store.get_archive_link(community.id, "scripted").clock == 1234


async def test_a_newer_link_cancels_the_running_download(tmp_path: Path) -> None:
    medium = Medium()
    private, community = signed_community()
    first = publish(medium, "scripted", community, messages(community, 5, T0))
    second = publish(medium, "scripted", community, messages(community, 8, T0))
    async with scripted_node(tmp_path, medium=medium, community=community) as node:
        backend = node.backends["scripted"]
        backend.hold.add(first)
        assert (
            await node.manager.handle_archive_link_message(sign_archive_link(private, 1, first))
        ).accepted
        await asyncio.sleep(0)  # the worker starts the download of `first`
        assert node.manager.running_download(community.id) == ("scripted", first)
        assert (
            await node.manager.handle_archive_link_message(sign_archive_link(private, 2, second))
        ).accepted
        await node.idle(community.id)
        assert node.manager.running_download(community.id) is None
        runs = node.host.of(HistoryArchivesDownloadCompleted)
        assert [(r.link, r.cancelled) for r in runs] == [(first, True), (second, False)]
        assert node.store.get_archive_link(community.id, "scripted").link == second


async def test_missing_key_for_an_index_backs_off_doubling_then_retries_on_a_new_key(
    tmp_path: Path,
) -> None:
    medium, _, community, link = published(5)
    settings = ImportSettings(initial_delay=0, fast=True, fast_rate=1000, no_key_backoff=100)
    async with scripted_node(
        tmp_path, medium=medium, import_settings=settings, community=community
    ) as node:
        backend = node.backends["scripted"]
        backend.failures["download"] = [NoGroupKeyError("no key") for _ in range(3)]
        await node.manager.handle_request_to_join_response(community.id, link)
        # Attempts at T0, +100, +200 (doubled); then the worker waits 400 s for the next.
        for _ in range(3):
            await node.run_until(node.clock.wait_for_sleeper())
            if len(backend.download_times) < 3:
                node.clock.advance(node.clock.deadlines[0] - node.clock.now())
        assert [t - T0 for t in backend.download_times] == [0, 100, 300]
        assert node.clock.deadlines == [T0 + 300 + 400]
        failures = node.host.of(HistoryArchivesDownloadFailed)
        assert len(failures) == 3 and all(f.reason.startswith("no key") for f in failures)

        node.manager.notify_group_key(community.id)  # a key arrived: retry now, not in 400 s
        await node.idle(community.id)
        assert [t - T0 for t in backend.download_times] == [0, 100, 300, 300]
        assert len(node.host.messages) == 5


async def test_import_errors_back_off_doubling_and_give_up_after_max_attempts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    medium = Medium()
    community = member_community()
    # Two weekly archives; every read of one of them fails.
    stored = messages(community, 10, T0) + messages(community, 10, T0 + WEEK)
    link = publish(medium, "scripted", community, stored)
    settings = ImportSettings(
        initial_delay=0, fast=True, fast_rate=1000, tick=0.5, error_backoff=2, max_attempts=3
    )
    async with scripted_node(
        tmp_path, medium=medium, import_settings=settings, community=community
    ) as node:
        backend = node.backends["scripted"]
        (bad, _), (good, _) = medium.published[link]
        reads: list[tuple[float, str]] = []
        read = backend.read_archive_bytes

        async def failing_read(community_id: bytes, at: str | None, archive_id: str) -> bytes:
            reads.append((node.clock.now() - T0, archive_id))
            if archive_id == bad:
                raise DecryptionError("damaged")
            return await read(community_id, at, archive_id)

        backend.read_archive_bytes = failing_read  # type: ignore[method-assign]
        await node.manager.handle_request_to_join_response(community.id, link)
        await node.idle(community.id)

        failures = node.host.of(HistoryArchiveImportFailed)
        assert [(f.archive_id, f.attempts, f.gave_up) for f in failures] == [
            (bad, 1, False),
            (bad, 2, False),
            (bad, 3, True),
        ]
        assert not any(f.postponed for f in failures)
        assert {(f.community_id, f.backend) for f in failures} == {
            ("0x" + community.id.hex(), "scripted")
        }
        warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        assert warnings == [f"import of {bad} failed (attempt {n}): damaged" for n in (1, 2, 3)]
        assert all(f.reason == "DecryptionError: damaged" for f in failures)
        # The bad one again after 2 s, then after 4 s; the good one without waiting for it.
        tries = [t for t, a in reads if a == bad]
        assert [t - tries[0] for t in tries] == [0, 2, 6]
        assert [a for _, a in reads if a == good] == [good]
        assert [a.archive_id for a in node.store.archives_to_import(community.id)] == [bad]
        assert [e.archive_id for e in node.host.of(HistoryArchiveImported)] == [good]


async def test_missing_key_for_an_archive_postpones_it_until_the_key_arrives(
    tmp_path: Path,
) -> None:
    medium, _, community, link = published(10)
    settings = ImportSettings(initial_delay=0, fast=True, fast_rate=1000, no_key_backoff=50)
    async with scripted_node(
        tmp_path, medium=medium, import_settings=settings, community=community
    ) as node:
        backend = node.backends["scripted"]
        backend.failures["read"] = [NoGroupKeyError("key 2 missing") for _ in range(2)]
        await node.manager.handle_request_to_join_response(community.id, link)
        await node.run_until(node.host.next_event(HistoryArchiveImportFailed))
        await node.run_until(node.host.next_event(HistoryArchiveImportFailed))
        assert node.clock.now() == T0 + 50  # the second try came one back-off later
        await node.run_until(node.clock.wait_for_sleeper())
        assert node.clock.deadlines == [T0 + 50 + 100]  # then doubled
        failures = node.host.of(HistoryArchiveImportFailed)
        assert [(f.attempts, f.postponed, f.gave_up) for f in failures] == [
            (1, True, False),
            (2, True, False),
        ]
        assert failures[0].reason == "key 2 missing"

        node.manager.notify_group_key(community.id)
        await node.idle(community.id)
        assert [t - T0 for t, _ in node.host.batches] == [50]  # at once, not at T0 + 150
        assert len(node.host.messages) == 10


async def test_import_waits_for_the_initial_delay_unless_opened_now(tmp_path: Path) -> None:
    medium, _, community, link = published(10)
    settings = ImportSettings(initial_delay=300, fast=True, fast_rate=1000)
    async with scripted_node(
        tmp_path, medium=medium, import_settings=settings, community=community
    ) as node:
        await node.manager.handle_request_to_join_response(community.id, link)
        await node.idle(community.id)
        assert [t - T0 for t, _ in node.host.batches] == [300]
        assert node.manager.pending_imports(community.id) == 0

    other = member_community()
    link = publish(medium, "scripted", other, messages(other, 10, T0))
    async with scripted_node(
        tmp_path / "b", medium=medium, import_settings=settings, community=other
    ) as node:
        await node.manager.handle_request_to_join_response(other.id, link)
        # No clock advance here: the import gate stays closed.
        await asyncio.wait_for(node.host.next_event(HistoryArchivesDownloadCompleted), 10)
        assert node.manager.pending_imports(other.id) == 1
        node.manager.open_import_gate_now()
        await node.idle(other.id)
        assert [t - T0 for t, _ in node.host.batches] == [0]


async def test_pending_imports_resume_at_start(tmp_path: Path) -> None:
    medium, _, community, link = published(10)
    async with scripted_node(tmp_path, medium=medium, community=community) as node:
        node.backends["scripted"].hold.add("nothing")
        await node.manager.handle_request_to_join_response(community.id, link)
        await node.run_until(node.host.next_event(HistoryArchivesDownloadCompleted))
        await node.manager.stop()  # stopped before the import ran
        imported_before = len(node.host.messages)
        await node.manager.start()
        await node.idle(community.id)
        assert imported_before == 0 or imported_before == 10
        assert node.manager.pending_imports(community.id) == 0
        assert len(node.host.messages) == 10
