"""The owner after a crash, on a ManualClock and scripted backends: the end date is recovered
from what the backends committed, a committed link never announced is announced by the next
run, and the stored link is always the one last announced (also when only its peer hints
changed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from scripted import T0, WEEK, messages, owner_community, scripted_node

from archive_service.events import HistoryArchivesSeeding, HistoryArchivesUnseeded

pytestmark = pytest.mark.timeout(60)


async def test_the_end_date_is_recovered_from_the_least_advanced_backend(tmp_path: Path) -> None:
    community = owner_community()
    async with scripted_node(
        tmp_path,
        backends=("alpha", "beta"),
        community=community,
        stored=messages(community, 10, T0),
    ) as node:
        alpha, beta = node.backends["alpha"], node.backends["beta"]
        ends = {"alpha": T0 + 3 * WEEK, "beta": T0 + 2 * WEEK}
        alpha.committed_end = lambda cid: ends["alpha"]  # type: ignore[method-assign]
        beta.committed_end = lambda cid: ends["beta"]  # type: ignore[method-assign]

        # The store never recorded either commit (the process died before its write): the
        # run starts where the least advanced backend ended and the store learns it.
        assert node.manager.partition_start(community) == T0 + 2 * WEEK
        assert node.store.get_last_archive_end_date(community.id) == T0 + 2 * WEEK

        # The store ahead of every backend (empty windows moved it on) wins.
        node.store.set_last_archive_end_date(community.id, T0 + 5 * WEEK)
        assert node.manager.partition_start(community) == T0 + 5 * WEEK

        # A backend with no history at all keeps the store's date (a backend added later
        # starts from now, as before; migration republishes older history).
        ends["beta"] = 0
        node.store.set_last_archive_end_date(community.id, 0)
        assert node.manager.partition_start(community) == T0  # the oldest message


async def test_a_committed_link_never_announced_is_announced_by_the_next_run(
    tmp_path: Path,
) -> None:
    community = owner_community()
    async with scripted_node(
        tmp_path, community=community, stored=messages(community, 10, T0)
    ) as node:
        backend = node.backends["scripted"]
        await node.manager.create_and_seed_history_archive(community, T0, T0 + WEEK)
        announced = node.store.get_archive_link(community.id, "scripted").link
        # A run committed a new link and died before announcing it.
        backend.links[community.id] = "scripted:99"
        backend.log.clear()

        await node.manager.owner.announce_pending([community])

        assert node.host.links[-1] == ("scripted", "scripted:99")
        assert node.store.get_archive_link(community.id, "scripted").link == "scripted:99"
        assert backend.log == [("seed", "scripted:99"), ("unseed", announced)]
        assert [e.link for e in node.host.of(HistoryArchivesUnseeded)] == [announced]
        # Announced once: the next run has nothing pending.
        await node.manager.owner.announce_pending([community])
        assert len(node.host.links) == 2

        # The same through `create` with nothing new to archive.
        backend.links[community.id] = "scripted:100"
        await node.manager.create_and_seed_history_archive(community, T0 + WEEK, T0 + 2 * WEEK)
        assert node.host.links[-1] == ("scripted", "scripted:100")
        assert node.store.get_archive_link(community.id, "scripted").link == "scripted:100"


async def test_the_stored_link_is_the_announced_one_and_peer_hints_are_not_news(
    tmp_path: Path,
) -> None:
    # A magnet's peer hints carry the listen port of the run that formats it: a re-announce
    # (`seed`) must store the link it sends, and a link whose content did not change is not
    # announced again by `create` or a start.
    community = owner_community()
    async with scripted_node(
        tmp_path, community=community, stored=messages(community, 10, T0)
    ) as node:
        backend = node.backends["scripted"]
        type(backend).same_content = classmethod(  # type: ignore[method-assign]
            lambda cls, a, b: a.split("#")[0] == b.split("#")[0]
        )
        created = await node.manager.create_and_seed_history_archive(community, T0, T0 + WEEK)
        link = created["scripted"].link
        backend.links[community.id] = f"{link}#port=4002"  # the next run listens elsewhere

        await node.manager.owner.announce_pending([community])
        await node.manager.create_and_seed_history_archive(community, T0 + WEEK, T0 + 2 * WEEK)
        assert node.host.links == [("scripted", link)]
        assert [e.link for e in node.host.of(HistoryArchivesSeeding)] == [link]

        await node.manager.republish_links(community)
        assert node.host.links[-1] == ("scripted", f"{link}#port=4002")
        assert node.store.get_archive_link(community.id, "scripted").link == f"{link}#port=4002"


async def test_after_a_restart_the_announced_magnet_is_the_stored_one(tmp_path: Path) -> None:
    # The `seed` mismatch: a restarted owner listens on another port, so its magnet's x.pe
    # hint changes. Re-announcing it must store what was sent; a start with nothing new
    # must not announce the same torrent again. Real libtorrent sessions on 127.0.0.1.
    from archive_service_cli.lab import Lab
    from archive_service_torrent.magnet import parse_magnet
    from manager_helpers import START
    from manager_helpers import owner_community as generated_community

    async with Lab(tmp_path, backends=["torrent"], members=0, interval=WEEK) as lab:
        assert lab.owner is not None
        community = generated_community(lab, messages=300, days=10)
        await lab.owner.manager.create_and_seed_history_archive(community, START, START + WEEK)
        (first,) = lab.bus.sent
        port = lab.owner.backends["torrent"].listen_port

        owner = await lab.restart(lab.owner)
        backend = owner.backends["torrent"]
        assert backend.listen_port != port
        assert len(lab.bus.sent) == 1  # same torrent: nothing pending at start
        await owner.manager.republish_links(community)

        again = lab.bus.sent[-1]
        assert again.link != first.link  # the new port
        assert parse_magnet(again.link).info_hash == parse_magnet(first.link).info_hash
        assert parse_magnet(again.link).peers == (("127.0.0.1", backend.listen_port),)
        assert owner.store.get_archive_link(community.id, "torrent").link == again.link
