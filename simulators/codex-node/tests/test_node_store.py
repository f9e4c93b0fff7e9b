"""Block store of the local node: /space accounting, dedup, quota, persistence, locking."""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from archive_service_codex.cid import CidBuilder, compute_manifest, parse_cid
from archive_service_codex_node import LocalCodexNode

from archive_service.errors import BackendUnavailableError

NodeFactory = Callable[..., Awaitable[LocalCodexNode]]
BLOCK = 65536


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=20) as client:
        yield client


async def space(http: httpx.AsyncClient, node: LocalCodexNode) -> dict[str, int]:
    r = await http.get(node.api_url + "/space")
    assert r.headers["content-type"] == "application/json"
    return r.json()


async def test_space_counts_padded_blocks_manifests_and_dedups(
    codex_node: LocalCodexNode, http: httpx.AsyncClient
) -> None:
    base = codex_node.api_url
    assert await space(http, codex_node) == {
        "totalBlocks": 0,
        "quotaMaxBytes": 20 * 2**30,
        "quotaUsedBytes": 0,
        "quotaReservedBytes": 0,
    }
    await http.post(base + "/data", content=b"some file contents")
    assert await space(http, codex_node) == {
        "totalBlocks": 2,
        "quotaMaxBytes": 20 * 2**30,
        "quotaUsedBytes": BLOCK + 56,
        "quotaReservedBytes": 0,
    }
    # Same bytes again: nothing new. Same bytes with a filename: only a new manifest.
    await http.post(base + "/data", content=b"some file contents")
    assert (await space(http, codex_node))["totalBlocks"] == 2
    named = compute_manifest(b"some file contents", filename="f.txt")
    await http.post(
        base + "/data",
        content=b"some file contents",
        headers={"Content-Disposition": 'filename="f.txt"'},
    )
    assert await space(http, codex_node) == {
        "totalBlocks": 3,
        "quotaMaxBytes": 20 * 2**30,
        "quotaUsedBytes": BLOCK + 56 + len(named.encoded),
        "quotaReservedBytes": 0,
    }
    # Two equal blocks inside one dataset are stored once.
    await http.post(base + "/data", content=b"\x07" * (2 * BLOCK))
    s = await space(http, codex_node)
    assert s["totalBlocks"] == 3 + 1 + 1


async def test_deleting_one_dataset_keeps_blocks_another_tree_uses(
    codex_node: LocalCodexNode, http: httpx.AsyncClient
) -> None:
    base = codex_node.api_url
    shared = os.urandom(BLOCK)
    first = (await http.post(base + "/data", content=shared + b"first")).text
    second = (await http.post(base + "/data", content=shared + b"second")).text
    assert (await space(http, codex_node))["totalBlocks"] == 5  # shared + 2 tails + 2 manifests
    assert (await http.delete(f"{base}/data/{first}")).status_code == 204
    assert (await space(http, codex_node))["totalBlocks"] == 3
    assert (await http.get(f"{base}/data/{second}")).content == shared + b"second"


async def test_quota_refuses_an_upload_and_rolls_it_back(
    codex_node_factory: NodeFactory, http: httpx.AsyncClient
) -> None:
    node = await codex_node_factory("small", storage_quota=3 * BLOCK + 200)
    base = node.api_url
    ok = (await http.post(base + "/data", content=os.urandom(BLOCK))).text
    before = await space(http, node)
    data = os.urandom(4 * BLOCK)
    r = await http.post(base + "/data", content=data)
    assert r.status_code == 500
    assert r.headers["content-type"] == "text/html"
    # One block + manifest stored: two more blocks fit, the third does not.
    blocks = CidBuilder().update(data)
    assert r.text == f"Unable to store block {blocks[2].cid}"
    assert await space(http, node) == before  # nothing of the refused upload stays
    assert (await http.get(f"{base}/data/{ok}")).status_code == 200
    # Fits exactly when data + manifest ≤ quota.
    assert (await http.post(base + "/data", content=os.urandom(2 * BLOCK))).status_code == 200
    s = await space(http, node)
    assert s["quotaUsedBytes"] <= s["quotaMaxBytes"] == 3 * BLOCK + 200


async def test_restart_keeps_identity_data_and_accounting(
    tmp_path: Path, http: httpx.AsyncClient
) -> None:
    data = os.urandom(3 * BLOCK + 5)
    async with LocalCodexNode(tmp_path / "n") as node:
        peer_id = node.peer_id
        cid = (await http.post(node.api_url + "/data", content=data)).text
        before = await space(http, node)
    key = tmp_path / "n" / "key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "n").stat().st_mode) == 0o700
    async with LocalCodexNode(tmp_path / "n") as node:
        assert node.peer_id == peer_id
        assert await space(http, node) == before
        assert (await http.get(f"{node.api_url}/data/{cid}")).content == data
        assert [i["cid"] for i in (await http.get(node.api_url + "/data")).json()["content"]] == [
            cid
        ]


async def test_start_clears_half_written_state(tmp_path: Path, http: httpx.AsyncClient) -> None:
    async with LocalCodexNode(tmp_path / "n") as node:
        cid = (await http.post(node.api_url + "/data", content=b"kept")).text
        before = await space(http, node)
        repo = tmp_path / "n" / "repo"
    # A crash mid-upload leaves temp files (atomic_write's, beside their targets) and blocks
    # no tree references yet.
    leftovers = [
        repo / "blocks" / "00" / ".zDx.123.1.tmp",
        repo / "trees" / ".zDz.123.2.tmp",
    ]
    for leftover in leftovers:
        leftover.write_bytes(b"partial")
    orphan = parse_cid("zDxWB8ED98hxJ51XwYaoQAwMdskCcmTaPR6Ce2wq88bjvjXRYuR9")
    orphan_path = repo / "blocks" / f"{orphan.digest[0]:02x}" / orphan.text
    orphan_path.write_bytes(b"some file contents".ljust(BLOCK, b"\0"))
    misplaced = repo / "blocks" / "00" / orphan.text
    if misplaced != orphan_path:
        misplaced.write_bytes(b"x")
    async with LocalCodexNode(tmp_path / "n") as node:
        assert await space(http, node) == before
        assert not any(leftover.exists() for leftover in leftovers)
        assert (await http.get(f"{node.api_url}/data/{cid}")).content == b"kept"
    assert not orphan_path.exists()
    assert not misplaced.exists()


async def test_unsafe_key_permissions_are_refused(tmp_path: Path) -> None:
    async with LocalCodexNode(tmp_path / "n"):
        pass
    os.chmod(tmp_path / "n" / "key", 0o644)
    with pytest.raises(BackendUnavailableError, match="chmod 600"):
        await LocalCodexNode(tmp_path / "n").start()


async def test_one_data_dir_one_node(codex_node: LocalCodexNode) -> None:
    with pytest.raises(BackendUnavailableError, match="in use by another local Codex node"):
        await LocalCodexNode(codex_node.data_dir).start()


async def test_busy_port_is_one_clear_error(codex_node: LocalCodexNode, tmp_path: Path) -> None:
    other = LocalCodexNode(tmp_path / "other", api_port=codex_node.port)
    with pytest.raises(BackendUnavailableError, match=f"{codex_node.port} is already in use"):
        await other.start()
    # The failed node released its data dir: it can start elsewhere.
    other.requested_port = 0
    await other.start()
    await other.stop()


async def test_a_block_damaged_on_disk_is_never_served(
    codex_cluster, http: httpx.AsyncClient
) -> None:
    a, b = await codex_cluster(2)
    data = os.urandom(2 * BLOCK)
    cid = (await http.post(a.api_url + "/data", content=data)).text
    assert (await http.get(f"{b.api_url}/data/{cid}/network/stream")).content == data
    # B's copy of the first block is truncated (a crash before the page cache was flushed).
    first = CidBuilder().update(data)[0].cid
    truncate(b.store._path(first))
    r = await http.get(f"{b.api_url}/data/{cid}")
    assert r.content == data  # dropped on read, fetched again from A
    assert b.store.has(first)


def truncate(path: str) -> None:
    with open(path, "r+b") as f:
        f.truncate(0)


async def test_a_damaged_tree_index_is_dropped_at_start(
    tmp_path: Path, http: httpx.AsyncClient
) -> None:
    data = os.urandom(3 * BLOCK)
    async with LocalCodexNode(tmp_path / "n") as node:
        cid = (await http.post(node.api_url + "/data", content=data)).text
    tree = compute_manifest(data).tree_cid
    truncate(str(tmp_path / "n" / "repo" / "trees" / tree.text))
    async with LocalCodexNode(tmp_path / "n") as node:
        # The blocks lost their only reference and went; the manifest stays, so the dataset
        # is listed but reads as missing blocks (not as wrong bytes).
        s = (await http.get(node.api_url + "/space")).json()
        assert s["totalBlocks"] == 1
        r = await http.get(f"{node.api_url}/data/{cid}")
        assert r.status_code == 500
        assert r.text == "Error retries exhausted"
