"""ArchiveManager end to end (issue #5): owner tasks, link messages, member download and
import, side by side, supersession, restarts. Real backends on 127.0.0.1."""

from __future__ import annotations

import asyncio
from pathlib import Path

import libtorrent as lt
import pytest
from archive_service_cli.lab import FAST_IMPORT, Lab
from manager_helpers import (
    START,
    WEEK,
    backend_of_downloads,
    joined_member,
    next_event,
    owner_community,
    watch_downloads,
    windows_downloaded,
)

from archive_service.clock import ManualClock
from archive_service.config import ImportSettings
from archive_service.crypto.signing import generate_community_key, sign_archive_link
from archive_service.events import (
    ArchiveLinkIgnored,
    HistoryArchiveImported,
    HistoryArchiveImportFailed,
    HistoryArchivesDownloadCompleted,
    HistoryArchivesDownloadFailed,
    IndexDownloadCompleted,
)
from archive_service.manager import LinkReason
from archive_service.store import Community

pytestmark = pytest.mark.timeout(180)


@pytest.mark.parametrize(
    "backends",
    [["torrent"], ["logos-storage"], ["torrent", "logos-storage"]],
    ids=["torrent", "codex", "both"],
)
async def test_owner_and_two_members_end_with_the_owners_messages(
    tmp_path: Path, backends: list[str]
) -> None:
    async with Lab(tmp_path, backends=backends, members=2, preference=["codex", "torrent"]) as lab:
        assert lab.owner is not None
        community = owner_community(lab)
        for member in lab.members:
            lab.join(member, community)
        results = await lab.owner.manager.create_and_seed_history_archive(
            community, lab.owner.manager.partition_start(community), START + 21 * 24 * 3600
        )
        assert set(results) == set(backends)
        assert all(len(r.archive_ids) == 3 for r in results.values())  # three weekly windows
        assert [b for _, b, _, _ in lab.bus.sent] == backends  # one signed link per backend
        await lab.settle(community)

        owner_hashes = lab.owner_hashes(community)
        assert len(owner_hashes) == 1200
        for member in lab.members:
            assert lab.member_hashes(member, community) == owner_hashes
            assert member.store.count_waku_messages() == len(owner_hashes)
            # Every window downloaded exactly once, whichever backend delivered it.
            assert set(windows_downloaded(member, community).values()) == {1}
            assert not member.store.archives_to_import(community.id)
            if len(backends) == 2:
                # Preference codex first: the torrent link is handled but every window skipped.
                assert backend_of_downloads(member, community) == {"logos-storage": 3}
            for backend in backends:
                link = member.store.get_archive_link(community.id, backend)
                assert link.link == lab.owner.store.get_archive_link(community.id, backend).link


async def test_link_gates_say_why_a_link_is_refused(tmp_path: Path) -> None:
    async with Lab(tmp_path, backends=["torrent"], members=1) as lab:
        assert lab.owner is not None
        member, community = joined_member(lab, messages=200, days=7)
        lab.bus.auto_deliver = False
        await lab.owner.manager.create_and_seed_history_archive(community, START, START + WEEK)
        ((_, _, link, message),) = lab.bus.sent
        handle = member.manager.handle_archive_link_message

        # A link signed by another key maps to a community the member does not know.
        stranger, _ = generate_community_key()
        forged = sign_archive_link(stranger, 10**15, link)
        assert (await handle(forged)).reason == LinkReason.UNKNOWN_COMMUNITY
        assert (await handle(b"\x0a\x03abc")).reason == LinkReason.BAD_SIGNATURE
        # The owner's own node never downloads its own links.
        own = await lab.owner.manager.handle_archive_link_message(message)
        assert own.reason == LinkReason.OWNER

        accepted = await handle(message)
        assert accepted.accepted and accepted.backend == "torrent"
        await lab.settle(community)
        assert lab.member_hashes(member, community) == lab.owner_hashes(community)

        assert (await handle(message)).reason == LinkReason.SAME_LINK
        older = sign_archive_link(community.private_key or b"", accepted.clock - 1, link + "x")
        assert (await handle(older)).reason == LinkReason.OLD_CLOCK

        member.store.save_community(Community(id=community.id, joined=True, archives_enabled=False))
        assert (await handle(message)).reason == LinkReason.DISABLED
        member.store.save_community(Community(id=community.id, joined=False))
        assert (await handle(message)).reason == LinkReason.NOT_MEMBER

        reasons = [r.event.reason for r in lab.events.of("member1", ArchiveLinkIgnored)]
        assert reasons == [
            LinkReason.UNKNOWN_COMMUNITY,
            LinkReason.BAD_SIGNATURE,
            LinkReason.SAME_LINK,
            LinkReason.OLD_CLOCK,
            LinkReason.DISABLED,
            LinkReason.NOT_MEMBER,
        ]


@pytest.mark.parametrize("backend", ["torrent", "logos-storage"])
async def test_newer_link_supersedes_the_running_download(
    tmp_path: Path, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with Lab(tmp_path, backends=[backend], members=1) as lab:
        assert lab.owner is not None
        member, community = joined_member(lab, messages=3000, days=14)
        lab.bus.auto_deliver = False
        await lab.owner.manager.create_and_seed_history_archive(community, START, START + WEEK)
        await lab.owner.manager.create_and_seed_history_archive(
            community, START + WEEK, START + 2 * WEEK
        )
        (_, _, link1, msg1), (_, _, link2, msg2) = lab.bus.sent
        assert link1 != link2
        # The owner no longer serves link1 (it moved to link2), so a download of link1 keeps
        # waiting for its index: it is provably running when link2 arrives.
        started = asyncio.Event()
        watch_downloads(
            monkeypatch,
            member.backends[backend],
            started=lambda link: started.set() if link == link1 else None,
        )
        assert (await member.manager.handle_archive_link_message(msg1)).accepted
        await asyncio.wait_for(started.wait(), 30)
        assert member.manager.running_download(community.id) == (backend, link1)
        assert (await member.manager.handle_archive_link_message(msg2)).accepted
        await lab.settle(community)

        runs = [r.event for r in lab.events.of("member1", HistoryArchivesDownloadCompleted)]
        assert [(r.link, r.cancelled) for r in runs] == [(link1, True), (link2, False)]
        assert lab.member_hashes(member, community) == lab.owner_hashes(community)
        assert member.store.get_archive_link(community.id, backend).link == link2
        assert set(windows_downloaded(member, community).values()) == {1}


async def test_member_restarted_mid_import_resumes_and_imports_everything_once(
    tmp_path: Path,
) -> None:
    # The manager's time is a ManualClock that nobody moves until the restart: the pause
    # after the first imported archive (`tick`) holds the import there, so the member is
    # provably stopped between archives, whatever the machine's speed.
    clock = ManualClock(START)
    slow = ImportSettings(initial_delay=0, fast=False, slow_rate=200, chunk_size=10, tick=1)
    async with Lab(
        tmp_path, backends=["codex"], members=1, import_settings=slow, clock=clock
    ) as lab:
        assert lab.owner is not None
        member, community = joined_member(lab, messages=3000, days=21)
        await lab.owner.manager.create_and_seed_history_archive(community, START, START + 3 * WEEK)
        await lab.bus.drain()
        await next_event(lab, "member1", HistoryArchiveImported)
        await next_event(lab, "member1", HistoryArchivesDownloadCompleted)

        imported_before = 3 - len(member.store.archives_to_import(community.id))
        assert imported_before == 1  # stopped in the middle of the import
        member = await lab.restart(member)
        # start() resumed the import; wait_idle awaits it while the clock moves on.
        await clock.run_until(asyncio.ensure_future(member.manager.wait_idle(community.id)))
        assert not member.store.archives_to_import(community.id)
        assert lab.member_hashes(member, community) == lab.owner_hashes(community)
        assert member.store.count_waku_messages() == 3000


async def test_missing_group_key_postpones_the_download_until_the_key_arrives(
    tmp_path: Path,
) -> None:
    async with Lab(tmp_path, backends=["torrent"], members=1) as lab:
        assert lab.owner is not None
        member = lab.members[0]
        community = owner_community(lab, messages=500, days=7, encrypted=True)
        # Joined, but the community's group key has not reached the member yet.
        member.store.save_community(
            Community(id=community.id, joined=True, encrypted=True, chat_ids=community.chat_ids)
        )
        await lab.owner.manager.create_and_seed_history_archive(community, START, START + WEEK)
        await lab.bus.drain()
        failure = await next_event(lab, "member1", HistoryArchivesDownloadFailed)
        assert failure.reason.startswith("no key")  # the member can tell why
        assert member.store.count_waku_messages() == 0

        for key in lab.owner.crypto.group_keys(community.id):
            member.crypto.add_group_key(key)
        member.manager.notify_group_key(community.id)
        await lab.settle(community)
        assert lab.member_hashes(member, community) == lab.owner_hashes(community)
        # Back-off, not a hot loop.
        assert len(lab.events.of("member1", HistoryArchivesDownloadFailed)) < 5


async def test_archive_under_an_older_key_waits_for_that_key_while_others_import(
    tmp_path: Path,
) -> None:
    quick = ImportSettings(
        initial_delay=0, fast=True, fast_rate=10_000, tick=0.001, no_key_backoff=0.2
    )
    async with Lab(tmp_path, backends=["codex"], members=1, import_settings=quick) as lab:
        owner = lab.owner
        assert owner is not None
        member = lab.members[0]
        community = owner_community(lab, messages=800, days=14, encrypted=True)
        lab.join(member, community)  # receives the first key, K1
        old_key = owner.crypto.group_keys(community.id)[0]
        member_crypto_keys = member.crypto.group_keys(community.id)
        assert member_crypto_keys == [old_key]
        lab.bus.auto_deliver = False
        await owner.manager.create_and_seed_history_archive(community, START, START + WEEK)
        owner.crypto.generate_group_key(community.id)  # rotation: K2 encrypts what follows
        await owner.manager.create_and_seed_history_archive(
            community, START + WEEK, START + 2 * WEEK
        )

        # A member that only ever got K2: the index (K2) and week 2 (K2) import, week 1 waits.
        late = await lab.start_node("member2", "member")
        lab.members.append(late)
        late.store.save_community(
            Community(id=community.id, joined=True, encrypted=True, chat_ids=community.chat_ids)
        )
        late.crypto.add_group_key(owner.crypto.group_keys(community.id)[-1])
        message = lab.bus.sent[-1][3]
        assert (await late.manager.handle_archive_link_message(message)).accepted
        # Week 2 imports, week 1 is postponed (both downloaded before the import starts).
        await asyncio.gather(
            next_event(lab, "member2", HistoryArchiveImportFailed),
            next_event(lab, "member2", HistoryArchiveImported),
        )
        failures = [r.event for r in lab.events.of("member2", HistoryArchiveImportFailed)]
        assert failures and all(f.postponed and not f.gave_up for f in failures)
        assert len(late.store.archives_to_import(community.id)) == 1
        assert 0 < late.store.count_waku_messages() < len(lab.owner_hashes(community))

        late.crypto.add_group_key(old_key)
        (postponed,) = late.store.archives_to_import(community.id)
        late.manager.notify_group_key(community.id)
        await next_event(
            lab, "member2", HistoryArchiveImported, lambda e: e.archive_id == postponed.archive_id
        )
        await late.manager.wait_idle(community.id)
        assert not late.store.archives_to_import(community.id)
        assert lab.member_hashes(late, community) == lab.owner_hashes(community)
        assert len(lab.events.of("member2", HistoryArchiveImportFailed)) < 10


async def test_owner_restarted_mid_interval_creates_at_the_boundary(tmp_path: Path) -> None:
    async with Lab(tmp_path, backends=["torrent"], members=1, interval=WEEK) as lab:
        assert lab.owner is not None
        member, community = joined_member(lab, messages=1000, days=14)
        # Week 1 was archived before the restart; its end date is the partition start.
        await lab.owner.manager.create_and_seed_history_archive(community, START, START + WEEK)
        await lab.settle(community)
        first_link = lab.owner.store.get_archive_link(community.id, "torrent").link

        # The owner comes back 10 days after the history began, 3 days after its last
        # archive; from now on its time moves only when the test advances it.
        clock = lab.clock = ManualClock(start=START + 10 * 24 * 3600)
        owner = await lab.restart(lab.owner)
        await owner.manager.init_history_archive_tasks([community])
        assert owner.manager.history_tasks_count == 1
        backend = owner.backends["torrent"]
        # Seeded at start-up; libtorrent re-checks the data first: await its alerts.
        watch = backend._held[community.id].watch
        await watch.wait_until(
            lambda: watch.status().state == lt.torrent_status.seeding,
            cancel=None,
            timeout=30,
            what="re-check",
        )
        assert await backend.is_seeding(community.id, first_link)
        assert owner.store.get_archive_link(community.id, "torrent").link == first_link

        # 3 days since the last archive: the next one comes 4 days later, not at once (day
        # 10) and not an interval late (day 21).
        await clock.wait_for_sleeper()
        assert clock.deadlines == [START + 2 * WEEK]
        clock.advance(4 * 24 * 3600)
        # Created, seeded and announced once the interval task sleeps again.
        await asyncio.wait_for(clock.wait_for_sleeper(), 60)
        assert clock.deadlines == [START + 3 * WEEK]
        assert owner.store.get_last_archive_end_date(community.id) == START + 2 * WEEK
        assert len(lab.bus.sent) == 2
        await lab.settle(community)
        assert lab.member_hashes(member, community) == lab.owner_hashes(community)
        await owner.manager.stop_history_archive_tasks_interval(community.id)
        await owner.manager.stop_history_archive_tasks_interval(community.id)  # idempotent
        assert owner.manager.history_tasks_count == 0


async def test_overdue_owner_creates_at_once_and_empty_store_only_starts_the_interval(
    tmp_path: Path,
) -> None:
    clock = ManualClock(start=START + 30 * 24 * 3600)
    async with Lab(tmp_path, backends=["codex"], members=0, clock=clock) as lab:
        assert lab.owner is not None
        community = owner_community(lab, messages=300, days=14)
        await lab.owner.manager.init_history_archive_tasks([community])
        # Last archive older than an interval: created right away, up to now.
        assert lab.owner.store.get_last_archive_end_date(community.id) >= START + 30 * 24 * 3600
        assert lab.owner.store.get_archive_link(community.id, "logos-storage").link
        assert lab.owner.manager.history_tasks_count == 1

        silent, silent_id = generate_community_key()
        empty = Community(id=silent_id, private_key=silent)
        lab.owner.store.save_community(empty)
        await lab.owner.manager.init_history_archive_tasks([empty])
        assert lab.owner.manager.history_tasks_count == 2
        assert lab.owner.store.get_last_archive_end_date(empty.id) == 0


async def test_corrupted_archive_is_surfaced_after_bounded_attempts(tmp_path: Path) -> None:
    # The import gate stays closed until the archive on disk has been damaged.
    gated = FAST_IMPORT.model_copy(update={"initial_delay": 3600, "max_attempts": 3})
    async with Lab(tmp_path, backends=["torrent"], members=1, import_settings=gated) as lab:
        assert lab.owner is not None
        member, community = joined_member(lab, messages=900, days=21)
        await lab.owner.manager.create_and_seed_history_archive(community, START, START + 3 * WEEK)
        await lab.bus.drain()
        # Downloaded, not imported: the import gate is still closed.
        await next_event(lab, "member1", HistoryArchivesDownloadCompleted)
        assert len(member.store.archives_to_import(community.id)) == 3

        # Overwrite the newest archive's bytes inside the member's `data` file.
        entries = await member.backends["torrent"].read_index(community.id)
        newest = max(entries, key=lambda e: e.metadata.from_ts)
        (data,) = (member.config.data_dir / "torrent").rglob("0x*/data")
        with data.open("r+b") as f:
            f.seek(newest.locator["offset"])
            f.write(b"\xff" * 64)

        member.manager.open_import_gate_now()
        await next_event(lab, "member1", HistoryArchiveImportFailed, lambda e: e.gave_up)
        await member.manager.wait_idle(community.id)
        failures = [r.event for r in lab.events.of("member1", HistoryArchiveImportFailed)]
        assert [f.attempts for f in failures] == [1, 2, 3]
        assert all(f.archive_id == newest.archive_id for f in failures)
        assert failures[-1].gave_up and not any(f.postponed for f in failures)
        # The other two weeks imported; the damaged one stays marked as not imported.
        assert [a.archive_id for a in member.store.archives_to_import(community.id)] == [
            newest.archive_id
        ]
        imported = lab.member_hashes(member, community)
        assert imported and imported < lab.owner_hashes(community)


@pytest.mark.parametrize("backend", ["torrent", "logos-storage"])
async def test_archives_import_before_the_download_run_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    """The member's run is held open after the backend returns: archives imported meanwhile
    can only have gone to the import as each was downloaded, not after the run. The index is
    fetched once; the torrent delivers (and so imports first) the newest window."""
    async with Lab(tmp_path, backends=[backend], members=1) as lab:
        assert lab.owner is not None
        member, community = joined_member(lab, messages=2400, days=42)
        release = asyncio.Event()
        watch_downloads(monkeypatch, member.backends[backend], hold=release)
        await lab.owner.manager.create_and_seed_history_archive(
            community, lab.owner.manager.partition_start(community), START + 6 * WEEK
        )
        await lab.bus.drain()
        imported = await next_event(lab, "member1", HistoryArchiveImported)
        assert member.manager.running_download(community.id) is not None
        assert not lab.events.of("member1", HistoryArchivesDownloadCompleted)
        if backend == "torrent":
            newest = member.store.downloaded_archives(community.id)[0]
            assert imported.archive_id == newest.archive_id
        release.set()
        await lab.settle(community)
        assert len(lab.events.of("member1", IndexDownloadCompleted)) == 1
        archives = len(member.store.downloaded_archives(community.id))
        assert archives >= 5
        assert len(lab.events.of("member1", HistoryArchiveImported)) == archives
        assert lab.member_hashes(member, community) == lab.owner_hashes(community)
