"""The Codex owner after a crash: windows its committed index holds are never published again
(even as other bytes), archives an interrupted publication wrote are removed at the next open,
temporary files a killed process left are removed at start-up. Real local node, real store."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import weekly_history
from archive_service_codex.backend import CodexBackend
from archive_service_codex.settings import CodexSettings
from archive_service_codex_node import LocalCodexNode
from killed_writer import killed_writer
from weekly_history import COMMUNITY, T0, TOPICS, WEEK, publish

from archive_service.crypto.hashratchet import HashRatchet
from archive_service.interface import BackendContext
from archive_service.store import Store
from archive_service.types import ArchiveMetadata, BuiltArchive


class Owner:
    def __init__(self, root: Path, api_url: str) -> None:
        self.store = Store(root / "archive-service.sqlite")
        self.crypto = HashRatchet(self.store)
        self.events: list[object] = []
        context = BackendContext(
            data_dir=root / "codex", store=self.store, crypto=self.crypto, emit=self.events.append
        )
        self.backend = CodexBackend(context, CodexSettings(api_url=api_url))


@pytest.fixture
async def owner(tmp_path: Path, codex_node_factory) -> AsyncIterator[Owner]:
    node: LocalCodexNode = await codex_node_factory("node")
    side = Owner(tmp_path / "owner", node.api_url)
    await side.backend.start()
    yield side
    await side.backend.stop()
    side.store.close()


def messages(week: int) -> list:
    return weekly_history.week_messages(week, 30, 5000)


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
async def test_windows_the_index_holds_are_not_published_again(
    owner: Owner, encrypted: bool
) -> None:
    if encrypted:
        owner.crypto.generate_group_key(COMMUNITY)
    history = messages(0) + messages(1)
    first = await publish(owner, history, T0, T0 + 2 * WEEK, encrypt=encrypted)
    stored = sorted(os.listdir(owner.backend.files.community_dir(COMMUNITY) / "archives"))

    again = await publish(owner, history, T0, T0 + 2 * WEEK, encrypt=encrypted)

    assert again.archive_ids == [] and again.index_size == 2
    assert owner.backend.current_link(COMMUNITY) == first.link
    assert sorted(os.listdir(owner.backend.files.community_dir(COMMUNITY) / "archives")) == stored
    assert owner.backend.committed_end(COMMUNITY) == T0 + 2 * WEEK


async def test_archives_of_an_interrupted_publication_are_removed_at_the_next_open(
    owner: Owner,
) -> None:
    first = await publish(owner, messages(0), T0, T0 + WEEK)
    publication = await owner.backend.open_publication(COMMUNITY, False)
    meta = ArchiveMetadata(T0 + WEEK, T0 + 2 * WEEK, TOPICS)
    orphan = await publication.add(BuiltArchive(meta, b"\x0a\x00" + os.urandom(4000), 1, False))
    await publication._join_uploads()  # written and uploaded; the process dies before commit
    assert owner.backend.files.has_archive(COMMUNITY, orphan)

    reopened = await owner.backend.open_publication(COMMUNITY, False)

    assert not owner.backend.files.has_archive(COMMUNITY, orphan)
    for aid in first.archive_ids:
        assert owner.backend.files.has_archive(COMMUNITY, aid)
    await reopened.abort()


async def test_start_removes_temporary_files_a_killed_process_left(
    tmp_path: Path, codex_node_factory
) -> None:
    node: LocalCodexNode = await codex_node_factory("node")
    root = tmp_path / "owner"
    archives = root / "codex" / ("0x" + COMMUNITY.hex()) / "archives"
    left = killed_writer(archives / ("0x" + "ab" * 32))
    assert left.exists()
    owner = Owner(root, node.api_url)
    await owner.backend.start()
    try:
        assert not left.exists()
        assert not (archives / ("0x" + "ab" * 32)).exists()
    finally:
        await owner.backend.stop()
        owner.store.close()
