"""Each rule the manager enforces, with a test that fails when the rule is broken (issue #10
item 7): import pacing, index retries, import chunk size, the owner's interval surviving a
failed week, and a crashing backend plugin being contained. Time is a ManualClock: nothing
here sleeps."""

from __future__ import annotations

from pathlib import Path

import pytest
from scripted import (
    DAY,
    T0,
    WEEK,
    Medium,
    member_community,
    messages,
    owner_community,
    publish,
    published,
    scripted_node,
)

from archive_service.config import ImportSettings
from archive_service.errors import ArchiveTimeoutError, BackendError, ConfigError, InvalidInputError
from archive_service.events import (
    HistoryArchiveImported,
    HistoryArchivesCreated,
    HistoryArchivesDownloadCompleted,
    HistoryArchivesDownloadFailed,
)
from archive_service.types import IndexEntry

pytestmark = pytest.mark.timeout(60)


def pacing(*, fast: bool, rate: float, chunk_size: int = 10) -> ImportSettings:
    return ImportSettings(
        initial_delay=0,
        chunk_size=chunk_size,
        fast=fast,
        fast_rate=rate if fast else 100,
        slow_rate=1 if fast else rate,
        tick=0.1,
    )


# (a) the import rate limiter paces batches ----------------------------------------------------
@pytest.mark.parametrize(("fast", "rate"), [(False, 2.0), (True, 8.0)], ids=["slow", "fast"])
async def test_import_batches_are_paced_at_the_configured_rate(
    tmp_path: Path, fast: bool, rate: float
) -> None:
    medium, _, community, link = published(35)
    async with scripted_node(
        tmp_path, medium=medium, import_settings=pacing(fast=fast, rate=rate)
    ) as node:
        node.store.save_community(community)
        await node.manager.handle_request_to_join_response(community.id, link)
        await node.idle(community.id)

        times = [t - T0 for t, _ in node.host.batches]
        # 35 messages in batches of 10: 4 batches, one every 1/rate seconds, the first at once.
        assert times == pytest.approx([i / rate for i in range(4)])
        assert len(node.host.messages) == 35


async def test_set_import_speed_switches_the_pace(tmp_path: Path) -> None:
    medium = Medium()
    community = member_community()
    # Two weekly archives of 20 messages: 2 batches each.
    stored = messages(community, 20, T0) + messages(community, 20, T0 + WEEK)
    link = publish(medium, "scripted", community, stored)
    settings = pacing(fast=False, rate=1.0)
    async with scripted_node(
        tmp_path, medium=medium, import_settings=settings, community=community
    ) as node:
        node.manager.set_import_speed(fast=True)  # 100 batches/s
        await node.manager.handle_request_to_join_response(community.id, link)
        await node.idle(community.id)
        times = [round(t - T0, 6) for t, _ in node.host.batches]
        # fast: 0.01 s apart within an archive; the 0.1 s tick between the two archives
        assert times == pytest.approx([0.0, 0.01, 0.11, 0.12])


# (b) timeouts.index_retries is honoured --------------------------------------------------------
@pytest.mark.parametrize(
    ("retries", "timeouts", "calls", "completed"),
    [(0, 1, 1, False), (1, 1, 2, True), (1, 2, 2, False), (2, 2, 3, True), (3, 2, 3, True)],
)
async def test_index_timeout_is_retried_index_retries_times(
    tmp_path: Path, retries: int, timeouts: int, calls: int, completed: bool
) -> None:
    medium, _, community, link = published(5)
    async with scripted_node(
        tmp_path, medium=medium, index_retries=retries, community=community
    ) as node:
        backend = node.backends["scripted"]
        backend.failures["download"] = [ArchiveTimeoutError("index") for _ in range(timeouts)]
        await node.manager.handle_request_to_join_response(community.id, link)
        await node.idle(community.id)

        assert backend.calls["download"] == calls
        assert len(node.host.of(HistoryArchivesDownloadCompleted)) == int(completed)
        failed = node.host.of(HistoryArchivesDownloadFailed)
        assert len(failed) == int(not completed)  # one failure, only after the last attempt
        assert all(f.reason.startswith("timeout") for f in failed)
        assert len(node.host.messages) == (5 if completed else 0)


# (c) import.chunk_size is honoured -------------------------------------------------------------
@pytest.mark.parametrize(("chunk", "sizes"), [(7, [7, 7, 7, 4]), (25, [25]), (30, [25])])
async def test_host_receives_batches_of_chunk_size_and_a_shorter_last_one(
    tmp_path: Path, chunk: int, sizes: list[int]
) -> None:
    medium, _, community, link = published(25)
    settings = pacing(fast=True, rate=1000, chunk_size=chunk)
    async with scripted_node(
        tmp_path, medium=medium, import_settings=settings, community=community
    ) as node:
        await node.manager.handle_request_to_join_response(community.id, link)
        await node.idle(community.id)
        assert [n for _, n in node.host.batches] == sizes
        assert sum(e.imported for e in node.host.of(HistoryArchiveImported)) == 25


# (d) the owner's interval task survives a failed week, (e) and a crashing plugin ---------------
@pytest.mark.parametrize(
    "failure",
    [BackendError("disk full"), RuntimeError("bug in the plugin")],
    ids=["failed-week", "crashing-plugin"],
)
async def test_owner_interval_survives_a_failed_week(
    tmp_path: Path, failure: BaseException, caplog: pytest.LogCaptureFixture
) -> None:
    community = owner_community()
    async with scripted_node(
        tmp_path, community=community, stored=messages(community, 50, T0 - 3 * DAY, step=3600)
    ) as node:
        # The last archive ended half an interval ago: the next run is due in half an interval.
        node.store.set_last_archive_end_date(community.id, T0 - 3 * DAY)
        backend = node.backends["scripted"]
        backend.failures["open_publication"] = [failure]
        await node.manager.init_history_archive_tasks([community])

        created = await node.run_until(node.host.next_event(HistoryArchivesCreated))
        # The first run (at T0 + 4 days) failed; the task lived on and the next interval
        # created the same window again, since the failed run never persisted its end.
        assert backend.calls["open_publication"] == 2
        assert node.clock.now() == T0 + 4 * DAY + WEEK
        assert created.from_ts == T0 - 3 * DAY
        assert node.manager.history_tasks_count == 1
        assert [b for b, _ in node.host.links] == ["scripted"]
        assert node.store.get_last_archive_end_date(community.id) == T0 + 4 * DAY + WEEK
        (record,) = [r for r in caplog.records if r.name == "archive_service.manager.owner"]
        assert record.getMessage() == f"creating archives for 0x{community.id.hex()} failed"
        assert record.exc_info is not None and record.exc_info[1] is failure


# (e) a crashing backend plugin is contained ----------------------------------------------------
async def test_a_backend_crashing_in_download_does_not_stop_the_other_backend(
    tmp_path: Path,
) -> None:
    medium = Medium()
    community = member_community()
    stored = messages(community, 30, T0)
    crashing_link = publish(medium, "alpha", community, stored)
    good_link = publish(medium, "beta", community, stored)
    async with scripted_node(
        tmp_path, backends=["alpha", "beta"], medium=medium, community=community
    ) as node:
        alpha = node.backends["alpha"]
        alpha.failures["download"] = [RuntimeError("bug in the plugin")]
        # alpha is preferred, so its crash comes first; beta's link waits behind it.
        assert (
            await node.manager.handle_request_to_join_response(community.id, good_link)
        ).accepted
        assert (
            await node.manager.handle_request_to_join_response(community.id, crashing_link)
        ).accepted
        await node.idle(community.id)

        (failure,) = node.host.of(HistoryArchivesDownloadFailed)
        assert failure.backend == "alpha"
        assert failure.reason.startswith("unexpected RuntimeError in backend alpha")
        assert [e.backend for e in node.host.of(HistoryArchivesDownloadCompleted)] == ["beta"]
        assert len(node.host.messages) == 30

        # The manager still works with the backend that crashed once.
        again = publish(medium, "alpha", community, messages(community, 10, T0 + WEEK))
        assert (await node.manager.handle_request_to_join_response(community.id, again)).accepted
        await node.idle(community.id)
        assert alpha.calls["download"] == 2
        assert len(node.host.messages) == 40


# migration takes its backends explicitly and orders by window ---------------------------------
async def test_migration_republishes_oldest_window_first_whatever_the_source_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    community = owner_community()
    async with scripted_node(tmp_path, backends=["alpha", "beta"]) as node:
        node.config.owner.distribution = ["alpha"]
        node.store.save_community(community)
        node.store.save_waku_messages(messages(community, 40, T0, step=12 * 3600))  # 20 days
        await node.manager.create_and_seed_history_archive(community, T0, T0 + 3 * WEEK)
        alpha, beta = node.backends["alpha"], node.backends["beta"]
        listed = await alpha.read_index(community.id)
        assert len(listed) == 3

        async def newest_first(community_id: bytes, link: str | None = None) -> list[IndexEntry]:
            return listed[::-1]

        monkeypatch.setattr(alpha, "read_index", newest_first)
        report = await node.manager.migrate(community, "alpha", "beta")

        assert (report.source, report.target, report.skipped) == ("alpha", "beta", [])
        assert list(report.mapping) == [e.archive_id for e in listed]  # oldest window first
        migrated = await beta.read_index(community.id)
        assert [e.metadata.from_ts for e in migrated] == sorted(e.metadata.from_ts for e in listed)
        for source_id, target_id in report.mapping.items():
            assert beta.archives[target_id] == alpha.archives[source_id]
        assert node.host.links[-1] == ("beta", report.link)
        again = await node.manager.migrate(community, "alpha", "beta")
        assert not again.mapping and len(again.skipped) == 3


async def test_migration_refuses_one_backend_as_both_ends_and_a_disabled_backend(
    tmp_path: Path,
) -> None:
    community = owner_community()
    async with scripted_node(tmp_path, backends=["alpha"]) as node:
        with pytest.raises(InvalidInputError, match="both 'alpha'"):
            await node.manager.migrate(community, "alpha", "alpha")
        with pytest.raises(ConfigError, match="'beta' enabled"):
            await node.manager.migrate(community, "alpha", "beta")
