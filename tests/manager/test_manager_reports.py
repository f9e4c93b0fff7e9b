"""What the manager tells a host and an operator: every event field and the log lines of a
download with a retried index timeout, failed runs, imports, refusals and encrypted creation."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from scripted import T0, WEEK, Medium, member_community, messages, owner_community, publish
from scripted import scripted_node as node_of

from archive_service.archives import decode_archive
from archive_service.crypto.signing import generate_community_key, sign_archive_link
from archive_service.errors import ArchiveTimeoutError, BackendError
from archive_service.events import (
    ArchiveLinkIgnored,
    DownloadingHistoryArchivesFinished,
    HistoryArchiveImported,
    HistoryArchivesDownloadCompleted,
    HistoryArchivesDownloadFailed,
    HistoryArchivesSeeding,
    HistoryArchivesUnseeded,
    ImportingHistoryArchiveMessages,
)
from archive_service.store import Community

pytestmark = pytest.mark.timeout(60)


def log_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [
        (r.levelname, r.getMessage())
        for r in caplog.records
        if r.name.startswith("archive_service.manager")
    ]


async def test_a_member_run_reports_every_field(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    medium = Medium()
    community = member_community()
    cid = "0x" + community.id.hex()
    stored = messages(community, 10, T0) + messages(community, 12, T0 + WEEK)
    link = publish(medium, "scripted", community, stored)
    (old_id, _), (new_id, _) = medium.published[link]
    async with node_of(tmp_path, medium=medium) as node:
        node.store.save_community(community)
        node.store.set_archive_link(community.id, "scripted", "scripted:0")
        backend = node.backends["scripted"]
        backend.failures["download"] = [ArchiveTimeoutError("slow index")]
        await node.manager.handle_request_to_join_response(community.id, link)
        await node.idle(community.id)

        assert node.host.of(HistoryArchivesDownloadCompleted) == [
            HistoryArchivesDownloadCompleted(
                community_id=cid,
                backend="scripted",
                link=link,
                total_archives=2,
                downloaded=2,
                skipped=0,
                failed=0,
                cancelled=False,
                bytes_downloaded=0,
            )
        ]
        # The link replaced the one seen before, which is unseeded.
        assert backend.log[-1] == ("unseed", "scripted:0")
        assert node.host.of(HistoryArchivesSeeding) == [
            HistoryArchivesSeeding(community_id=cid, backend="scripted", link=link)
        ]
        imported = node.host.of(HistoryArchiveImported)
        assert {e.archive_id: e.imported for e in imported} == {old_id: 10, new_id: 12}
        assert [e.remaining for e in imported] == [1, 0]
        assert all((e.community_id, e.backend) == (cid, "scripted") for e in imported)
        importing = node.host.of(ImportingHistoryArchiveMessages)
        assert sorted(
            (e.community_id, e.backend, e.archive_id, e.message_count) for e in importing
        ) == sorted([(cid, "scripted", old_id, 10), (cid, "scripted", new_id, 12)])
        assert node.host.of(DownloadingHistoryArchivesFinished) == [
            DownloadingHistoryArchivesFinished(community_id=cid)
        ]
        assert ("INFO", "timeout: slow index; retrying (1/1)") in log_lines(caplog)

        # A failed run, then a backend bug: each reported with its reason, in the log too.
        caplog.clear()
        second = publish(medium, "scripted", community, messages(community, 3, T0 + 2 * WEEK))
        backend.failures["download"] = [BackendError("gone")]
        await node.manager.handle_request_to_join_response(community.id, second)
        await node.idle(community.id)
        third = publish(medium, "scripted", community, messages(community, 3, T0 + 3 * WEEK))
        backend.failures["download"] = [KeyError("bug")]
        await node.manager.handle_request_to_join_response(community.id, third)
        await node.idle(community.id)
        assert node.host.of(HistoryArchivesDownloadFailed) == [
            HistoryArchivesDownloadFailed(
                community_id=cid, backend="scripted", link=second, reason="BackendError: gone"
            ),
            HistoryArchivesDownloadFailed(
                community_id=cid,
                backend="scripted",
                link=third,
                reason="unexpected KeyError in backend scripted: 'bug'",
            ),
        ]
        lines = log_lines(caplog)
        assert ("WARNING", f"download of {second} via scripted failed: BackendError: gone") in lines
        assert ("ERROR", f"backend scripted failed unexpectedly on {third}") in lines
        # Neither run changed the link last seen.
        assert node.store.get_archive_link(community.id, "scripted").link == link


async def test_refusals_are_logged_and_emitted_with_the_community(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    private, community_id = generate_community_key()
    cid = "0x" + community_id.hex()
    async with node_of(tmp_path) as node:
        node.store.save_community(Community(id=community_id, joined=False))
        decision = await node.manager.handle_archive_link_message(
            sign_archive_link(private, 5, "scripted:1")
        )
        assert not decision.accepted
        unsupported = await node.manager.handle_request_to_join_response(community_id, "x:1")
        assert (unsupported.community_id, unsupported.link) == (community_id, "x:1")
        old = sign_archive_link(private, 1, "scripted:2")
        node.store.save_community(Community(id=community_id, joined=True))
        node.store.set_archive_link_clock(community_id, "scripted", 9)
        await node.manager.handle_archive_link_message(old)
        assert node.host.of(ArchiveLinkIgnored) == [
            ArchiveLinkIgnored(
                community_id=cid, backend="", link="scripted:1", reason="not-member", detail={}
            ),
            ArchiveLinkIgnored(
                community_id=cid, backend="", link="x:1", reason="no-backend-for-link", detail={}
            ),
            ArchiveLinkIgnored(
                community_id=cid,
                backend="scripted",
                link="scripted:2",
                reason="old-clock",
                detail={"detail": "clock 1 < stored 9"},
            ),
        ]
        assert log_lines(caplog) == [
            ("INFO", f"archive link ignored: not-member (community={cid} backend=? "
             "link=scripted:1 )"),
            ("INFO", f"archive link ignored: no-backend-for-link (community={cid} backend=? "
             "link=x:1 )"),
            ("INFO", f"archive link ignored: old-clock (community={cid} backend=scripted "
             "link=scripted:2 clock 1 < stored 9)"),
        ]  # fmt: skip
        caplog.clear()
        await node.manager.handle_archive_link_message(b"junk")
        ((level, line),) = log_lines(caplog)
        assert level == "INFO"
        assert line.startswith("archive link ignored: bad-signature (community=? backend=? link= ")


async def test_owner_events_name_the_community_and_backend_and_encrypted_archives(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    plain = owner_community()
    async with node_of(tmp_path) as node:
        encrypted = Community(id=plain.id, private_key=plain.private_key, encrypted=True)
        cid = "0x" + plain.id.hex()
        node.store.save_community(encrypted)
        node.manager.crypto.generate_group_key(plain.id)
        node.store.save_waku_messages(messages(plain, 10, T0) + messages(plain, 5, T0 + WEEK))
        first = await node.manager.create_and_seed_history_archive(encrypted, T0, T0 + WEEK)
        second = await node.manager.create_and_seed_history_archive(
            encrypted, T0 + WEEK, T0 + 2 * WEEK
        )
        link1, link2 = first["scripted"].link, second["scripted"].link
        assert node.host.of(HistoryArchivesSeeding) == [
            HistoryArchivesSeeding(community_id=cid, backend="scripted", link=link1),
            HistoryArchivesSeeding(community_id=cid, backend="scripted", link=link2),
        ]
        assert node.host.of(HistoryArchivesUnseeded) == [
            HistoryArchivesUnseeded(community_id=cid, backend="scripted", link=link1)
        ]
        backend = node.backends["scripted"]
        (archive_id,) = first["scripted"].archive_ids
        data = backend.archives[archive_id]
        # Encrypted with the community's group key: only a key holder decodes it.
        assert b"message 0" not in data
        decoded = decode_archive(data, plain.id, node.manager.crypto)
        assert len(decoded.messages) == 10

        await node.manager.init_history_archive_tasks([encrypted])
        await node.manager.stop_history_archive_tasks_interval(plain.id)
        assert node.host.of(HistoryArchivesSeeding)[-1] == HistoryArchivesSeeding(
            community_id=cid, backend="scripted", link=link2
        )
        assert node.host.of(HistoryArchivesUnseeded)[-1] == HistoryArchivesUnseeded(
            community_id=cid, backend="scripted", link=link2
        )
        assert backend.log[-1] == ("unseed", link2)
