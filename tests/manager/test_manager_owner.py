"""The owner's side on a ManualClock and scripted backends: when the interval runs, what is
seeded, unseeded and announced, and in which order."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from scripted import DAY, T0, WEEK, messages, owner_community, scripted_node

from archive_service.crypto.signing import verify_archive_link
from archive_service.errors import ConfigError, InvalidInputError
from archive_service.events import (
    HistoryArchivesCreated,
    HistoryArchivesSeeding,
    HistoryArchivesUnseeded,
    NoHistoryArchivesCreated,
)
from archive_service.hookspecs import hookimpl
from archive_service.manager import ArchiveManager
from archive_service.store import Community

pytestmark = pytest.mark.timeout(60)


async def test_a_new_link_is_seeded_before_the_old_one_is_unseeded_then_announced(
    tmp_path: Path,
) -> None:
    community = owner_community()
    async with scripted_node(
        tmp_path, community=community, stored=messages(community, 30, T0, step=12 * 3600)
    ) as node:
        backend = node.backends["scripted"]
        first = await node.manager.create_and_seed_history_archive(community, T0, T0 + WEEK)
        link1 = first["scripted"].link
        assert link1 and backend.log == [("seed", link1)]
        assert node.store.get_last_archive_end_date(community.id) == T0 + WEEK
        assert node.store.get_archive_link(community.id, "scripted").link == link1

        second = await node.manager.create_and_seed_history_archive(
            community, T0 + WEEK, T0 + 2 * WEEK
        )
        link2 = second["scripted"].link
        assert backend.log == [("seed", link1), ("seed", link2), ("unseed", link1)]
        assert [e.link for e in node.host.of(HistoryArchivesUnseeded)] == [link1]
        assert [e.link for e in node.host.of(HistoryArchivesSeeding)] == [link1, link2]
        assert node.host.links == [("scripted", link1), ("scripted", link2)]

        # Nothing new in the window: no new link, nothing re-announced, the end date moves on.
        empty = await node.manager.create_and_seed_history_archive(
            community, T0 + 3 * WEEK, T0 + 4 * WEEK
        )
        assert empty["scripted"].link == link2
        assert len(node.host.links) == 2 and len(backend.log) == 3
        assert node.host.of(NoHistoryArchivesCreated)
        assert node.store.get_last_archive_end_date(community.id) == T0 + 4 * WEEK


async def test_announcements_are_signed_with_a_clock_that_never_goes_back(
    tmp_path: Path,
) -> None:
    community = owner_community()
    announced: list[bytes] = []

    class Transport:
        @hookimpl
        def archive_link_publish(
            self, community_id: bytes, backend: str, link: str, message: bytes
        ) -> bool:
            announced.append(message)
            return True

    async with scripted_node(tmp_path) as node:
        node.manager.pm.register(Transport())
        node.store.save_community(community)
        node.store.save_waku_messages(messages(community, 10, T0))
        await node.manager.create_and_seed_history_archive(community, T0, T0 + WEEK)
        link = node.backends["scripted"].current_link(community.id)
        node.store.set_archive_link_clock(community.id, "scripted", (T0 + 999) * 1000)
        await node.manager.republish_links(community)
        node.clock.advance(2000)
        await node.manager.republish_links(community)
        first, again, later = (verify_archive_link(m) for m in announced)
        assert first.community_id == community.id and first.link == link
        assert first.clock == T0 * 1000  # the clock's time in milliseconds
        assert again.clock == (T0 + 999) * 1000  # not below what was stored
        assert later.clock == (T0 + 2000) * 1000
        assert node.store.get_archive_link(community.id, "scripted").clock == later.clock

        member_side = Community(id=community.id, joined=True)
        with pytest.raises(InvalidInputError, match="no private key"):
            node.manager.owner.publish_link(member_side, "scripted", "scripted:9")


async def test_init_seeds_existing_links_and_stop_unseeds_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    community = owner_community()
    async with scripted_node(tmp_path, community=community) as node:
        backend = node.backends["scripted"]
        backend.links[community.id] = "scripted:7"
        node.store.set_last_archive_end_date(community.id, int(T0 - DAY))
        await node.manager.init_history_archive_tasks([community])
        await node.manager.init_history_archive_tasks([community])  # one task per community
        assert node.manager.history_tasks_count == 1
        cid = "0x" + community.id.hex()
        assert [r.getMessage() for r in caplog.records] == [
            f"interval task already running for {cid}"
        ]
        assert f"archives:{cid}" in {t.get_name() for t in asyncio.all_tasks()}
        assert backend.log == [("seed", "scripted:7"), ("seed", "scripted:7")]
        assert [e.link for e in node.host.of(HistoryArchivesSeeding)] == ["scripted:7"] * 2
        await node.clock.wait_for_sleeper()
        assert node.clock.deadlines == [T0 - DAY + WEEK]  # due one interval after the last

        await node.manager.stop_history_archive_tasks_interval(community.id)
        await node.manager.stop_history_archive_tasks_interval(community.id)  # idempotent
        assert node.manager.history_tasks_count == 0
        assert backend.log[2:] == [("unseed", "scripted:7")]
        assert [e.link for e in node.host.of(HistoryArchivesUnseeded)] == ["scripted:7"]
        assert node.clock.deadlines == []


async def test_init_skips_communities_it_does_not_control_or_that_disabled_archives(
    tmp_path: Path,
) -> None:
    owned = owner_community()
    async with scripted_node(tmp_path) as node:
        member = Community(id=owner_community().id, joined=True)
        disabled = Community(id=owned.id, private_key=owned.private_key, archives_enabled=False)
        await node.manager.init_history_archive_tasks([member, disabled])
        assert node.manager.history_tasks_count == 0


async def test_an_overdue_owner_creates_at_once_and_an_empty_one_only_waits(
    tmp_path: Path,
) -> None:
    community = owner_community()
    empty = owner_community()
    async with scripted_node(tmp_path) as node:
        for c in (community, empty):
            node.store.save_community(c)
        node.store.save_waku_messages(messages(community, 20, T0 - 3 * WEEK, step=DAY))
        await node.manager.init_history_archive_tasks([community, empty])
        # The oldest message is more than an interval old: created up to now, at once.
        (created,) = node.host.of(HistoryArchivesCreated)
        assert (created.from_ts, created.to_ts) == (T0 - 3 * WEEK, T0)
        assert node.store.get_last_archive_end_date(community.id) == T0
        assert node.manager.history_tasks_count == 2
        await node.clock.wait_for_sleeper(2)
        assert node.clock.deadlines == [T0 + WEEK, T0 + WEEK]

        # An interval later: the empty community still has nothing and creates nothing.
        node.clock.advance(WEEK)
        await node.run_until(node.clock.wait_for_sleeper(2))
        assert node.store.get_last_archive_end_date(empty.id) == 0
        assert len(node.host.of(HistoryArchivesCreated)) == 1


async def test_an_owner_that_is_not_yet_due_waits_for_the_rest_of_the_interval(
    tmp_path: Path,
) -> None:
    community = owner_community()
    async with scripted_node(
        tmp_path, community=community, stored=messages(community, 20, T0 - 2 * DAY, step=3600)
    ) as node:
        await node.manager.init_history_archive_tasks([community])
        assert not node.host.of(HistoryArchivesCreated)
        await node.clock.wait_for_sleeper()
        assert node.clock.deadlines == [T0 - 2 * DAY + WEEK]
        created = await node.run_until(node.host.next_event(HistoryArchivesCreated))
        assert (created.from_ts, created.to_ts) == (T0 - 2 * DAY, T0 - 2 * DAY + WEEK)


async def test_distribution_must_name_enabled_backends(tmp_path: Path) -> None:
    community = owner_community()
    async with scripted_node(tmp_path) as node:
        node.config.owner.distribution = ["scripted", "elsewhere"]
        with pytest.raises(ConfigError, match=r"\['elsewhere'\] that are not enabled"):
            await node.manager.create_and_seed_history_archive(community, T0, T0 + WEEK)


def test_the_facade_keeps_its_public_api() -> None:
    # (names with "ǁ" are mutmut's trampolines, present only under mutation testing)
    public = {n for n in dir(ArchiveManager) if not n.startswith("_") and "ǁ" not in n}
    assert public == {
        "community_topics",
        "create_and_seed_history_archive",
        "handle_archive_link_message",
        "handle_request_to_join_response",
        "history_tasks_count",
        "init_history_archive_tasks",
        "migrate",
        "next_run_in",
        "notify_group_key",
        "open_import_gate_now",
        "partition_start",
        "pending_imports",
        "republish_links",
        "running_download",
        "set_import_speed",
        "start",
        "stop",
        "stop_history_archive_tasks_interval",
        "wait_idle",
    }


async def test_the_next_run_is_due_an_interval_after_the_last_archive_end(
    tmp_path: Path,
) -> None:
    """The rule both the interval task and the seed daemon follow (one implementation)."""
    community = owner_community()
    async with scripted_node(tmp_path, start=T0 + 3 * DAY) as node:
        node.store.save_community(community)
        assert node.manager.next_run_in(community) is None  # nothing to partition yet
        node.store.save_waku_messages(messages(community, 5, T0, step=3600))
        assert node.manager.next_run_in(community) == WEEK - 3 * DAY  # from the oldest message
        node.store.set_last_archive_end_date(community.id, T0 + 2 * DAY)
        assert node.manager.next_run_in(community) == WEEK - DAY
        node.clock.advance(WEEK - DAY)
        assert node.manager.next_run_in(community) == 0  # due now
