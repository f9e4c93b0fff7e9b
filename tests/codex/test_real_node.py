"""The Codex backend against a real Codex node — opt-in.

Set ``CODEX_TEST_NODE_URL`` to the REST base URL of a running nim-codex v0.2.x node
(``http://127.0.0.1:8080/api/codex/v1`` for a default node), then run
``.venv/bin/python -m pytest tests/codex``. The REST client suite (test_client_rest.py) then runs
against that node too, and the test below publishes and downloads a small community history
through it (owner and member share the node; what it stores is deleted at the end). Without the
variable these tests skip with that reason; everything else runs on the bundled local node.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from archive_service_codex.backend import CodexBackend
from archive_service_codex.settings import CodexSettings

from archive_service.archives import messages_from_list
from archive_service.creation import create_history_archives
from archive_service.crypto.hashratchet import HashRatchet
from archive_service.interface import BackendContext, Timeouts
from archive_service.store import Store
from archive_service.types import StoredMessage

REAL_NODE_ENV = "CODEX_TEST_NODE_URL"
COMMUNITY = bytes.fromhex("02" + "7e" * 32)
TOPIC = b"\x0a\x0b\x0c\x0d"
WEEK = 7 * 24 * 3600
T0 = 1_699_833_600

real_url = os.environ.get(REAL_NODE_ENV, "")
pytestmark = pytest.mark.skipif(
    not real_url, reason=f"{REAL_NODE_ENV} is not set (the REST URL of a real Codex node)"
)


def backend_at(tmp_path: Path, name: str) -> tuple[CodexBackend, Store]:
    store = Store(tmp_path / name / "db.sqlite")
    context = BackendContext(
        data_dir=tmp_path / name / "codex",
        store=store,
        crypto=HashRatchet(store),
        emit=lambda event: None,
        timeouts=Timeouts(index=60, archive=60, download=300),
    )
    # Bounded network waits: a real node searches for a missing CID for tens of minutes.
    settings = CodexSettings(api_url=real_url, timeouts={"network": 30})
    return CodexBackend(context, settings), store


async def test_publish_and_download_through_a_real_node(tmp_path: Path) -> None:
    owner, owner_store = backend_at(tmp_path, "owner")
    member, member_store = backend_at(tmp_path, "member")
    await owner.start()
    await member.start()
    messages = [
        StoredMessage(b"\x01" * 65, T0 + w * WEEK + i, TOPIC, os.urandom(2000), b"", os.urandom(32))
        for w in range(2)
        for i in range(50)
    ]
    try:
        results = await create_history_archives(
            [owner],
            messages_from_list(messages),
            COMMUNITY,
            [TOPIC],
            T0,
            T0 + 2 * WEEK,
            WEEK,
            encrypt=None,
            emit=lambda event: None,
        )
        link = results["codex"].link
        assert link and await owner.is_seeding(COMMUNITY, link)
        info = await member.download_history_archives(COMMUNITY, link, asyncio.Event())
        assert (info.total_archives, info.total_downloaded, info.failed_archive_ids) == (2, 2, [])
        got = []
        for aid in results["codex"].archive_ids:
            got += await member.load_archive_messages(COMMUNITY, link, aid)
        assert sorted(m.hash for m in got) == sorted(m.hash for m in messages)
    finally:
        for entry in await owner.read_index(COMMUNITY):
            await owner.client.delete(entry.locator["cid"])
        link = owner.current_link(COMMUNITY)
        if link:
            await owner.unseed(COMMUNITY, link)
        await owner.stop()
        await member.stop()
        owner_store.close()
        member_store.close()
