"""Migration from BitTorrent to Codex (issue #5): eight weeks created with BitTorrent,
`migrate`, then four more weeks with Codex only. A member who joined before the migration and
one who joined after both end with exactly the owner's messages, no duplicates, and no
[from,to) window downloaded twice."""

from __future__ import annotations

from pathlib import Path

import pytest
from archive_service_cli.lab import Lab
from manager_helpers import START, WEEK, backend_of_downloads, owner_community, windows_downloaded

pytestmark = pytest.mark.timeout(240)


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
async def test_torrent_history_migrated_to_codex_then_continued(
    tmp_path: Path, encrypted: bool
) -> None:
    async with Lab(
        tmp_path,
        backends=["torrent", "codex"],
        distribution=["torrent"],
        preference=["codex", "torrent"],
        members=1,
    ) as lab:
        owner = lab.owner
        assert owner is not None
        community = owner_community(lab, messages=2400, days=84, encrypted=encrypted)
        early = lab.members[0]
        lab.join(early, community)

        for week in range(8):
            await owner.manager.create_and_seed_history_archive(
                community, START + week * WEEK, START + (week + 1) * WEEK
            )
        await lab.settle(community)
        assert backend_of_downloads(early, community) == {"torrent": 8}

        report = await owner.manager.migrate(community, "torrent", "codex")
        assert len(report.mapping) == 8 and not report.skipped and report.link
        torrent, codex = owner.backends["torrent"], owner.backends["logos-storage"]
        for torrent_id, codex_id in report.mapping.items():
            # The same archive bytes (the same ciphertext when encrypted), under a Codex ID.
            assert await codex.read_archive_bytes(
                community.id, None, codex_id
            ) == await torrent.read_archive_bytes(community.id, None, torrent_id)
        assert {e.archive_id for e in await codex.read_index(community.id)} == set(
            report.mapping.values()
        )
        # Re-running the migration republishes nothing.
        again = await owner.manager.migrate(community, "torrent", "codex")
        assert not again.mapping and len(again.skipped) == 8

        late = await lab.start_node("member2", "member")
        lab.members.append(late)
        lab.join(late, community)
        assert (
            await late.manager.handle_request_to_join_response(community.id, report.link)
        ).accepted
        await lab.settle(community)

        owner.config.owner.distribution = ["logos-storage"]
        for week in range(8, 12):
            await owner.manager.create_and_seed_history_archive(
                community, START + week * WEEK, START + (week + 1) * WEEK
            )
        await lab.settle(community)

        index = await codex.read_index(community.id)
        assert len(index) == 12  # the Codex index covers the whole history
        owner_hashes = lab.owner_hashes(community)
        for member in (early, late):
            assert lab.member_hashes(member, community) == owner_hashes
            assert member.store.count_waku_messages() == len(owner_hashes)
            assert set(windows_downloaded(member, community).values()) == {1}
            assert len(windows_downloaded(member, community)) == 12
        assert backend_of_downloads(early, community) == {"torrent": 8, "logos-storage": 4}
        assert backend_of_downloads(late, community) == {"logos-storage": 12}
