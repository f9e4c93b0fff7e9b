"""Members share: a node learns which peers hold which blocks (presence bitmaps) and spreads
its requests over every holder, so a dataset completes from members after its uploader left."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable

import httpx
import pytest
from archive_service_codex.cid import block_cid_for_leaf, parse_cid
from archive_service_codex_node import LocalCodexNode
from archive_service_codex_node.blockfetch import DatasetFetch
from archive_service_codex_node.peers import PRESENCE_MAX_AGE, TreePresence, has_bit

from archive_service.clock import SystemClock

NodeFactory = Callable[..., Awaitable[LocalCodexNode]]
ClusterFactory = Callable[..., Awaitable[list[LocalCodexNode]]]
BLOCK = 65536


@pytest.fixture
async def http() -> httpx.AsyncClient:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


async def upload(http: httpx.AsyncClient, node: LocalCodexNode, data: bytes) -> str:
    r = await http.post(node.api_url + "/data", content=data)
    assert r.status_code == 200, r.text
    return r.text


async def network_download(http: httpx.AsyncClient, node: LocalCodexNode, cid: str) -> bytes:
    r = await http.get(f"{node.api_url}/data/{cid}/network/stream")
    assert r.status_code == 200, r.text
    return r.content


async def connect(http: httpx.AsyncClient, node: LocalCodexNode, other: LocalCodexNode) -> None:
    r = await http.get(
        f"{node.api_url}/connect/{other.peer_id}", params={"addrs": other.listen_addrs}
    )
    assert r.status_code == 200, r.text


def tree_of(node: LocalCodexNode, cid: str) -> str:
    manifest = node.store.get_manifest(parse_cid(cid))
    assert manifest is not None
    return manifest.tree_cid.text


async def test_presence_bitmap_lists_the_blocks_held(
    codex_cluster: ClusterFactory, http: httpx.AsyncClient
) -> None:
    a, b = await codex_cluster(2)
    cid = await upload(http, a, os.urandom(10 * BLOCK + 1))  # 11 blocks
    tree = tree_of(a, cid)
    exchange = f"http://{a.host}:{a.port}/_local/v1"

    r = await http.get(f"{exchange}/trees/{tree}/presence")
    assert r.status_code == 200
    assert r.content == bytes([0xFF, 0b111])
    assert all(has_bit(r.content, i) for i in range(11)) and not has_bit(r.content, 11)
    # A node that holds nothing of a tree has no have-list for it.
    exchange_b = f"http://{b.host}:{b.port}/_local/v1"
    assert (await http.get(f"{exchange_b}/trees/{tree}/presence")).status_code == 404
    # After fetching only the manifest and the leaves, B still holds no block of it.
    await http.get(f"{b.api_url}/data/{cid}/network/manifest")
    assert (await http.get(f"{exchange_b}/trees/{tree}/presence")).status_code == 404


async def test_a_node_fetches_from_every_holder(
    codex_node_factory: NodeFactory, http: httpx.AsyncClient
) -> None:
    owner = await codex_node_factory("owner")
    member = await codex_node_factory("member", bootstrap=[owner.spr])
    data = os.urandom(128 * BLOCK)
    cid = await upload(http, owner, data)
    assert await network_download(http, member, cid) == data

    joiner = await codex_node_factory("joiner", bootstrap=[owner.spr])  # learns member too
    assert set(joiner.network.peers) == {owner.peer_id, member.peer_id}
    assert await network_download(http, joiner, cid) == data

    # Both holders served the joiner a share of the blocks, and the joiner counted the same.
    served = {
        owner.peer_id: owner.served[joiner.peer_id],
        member.peer_id: member.served[joiner.peer_id],
    }
    assert all(n >= 16 * BLOCK for n in served.values()), served
    assert sum(served.values()) >= len(data)
    for peer_id, sent in served.items():
        assert joiner.network.received[peer_id] >= sent
    stats = (await http.get(f"http://{joiner.host}:{joiner.port}/_local/v1/stats")).json()
    assert stats["profile"] == "unthrottled"
    assert set(stats["received"]) == {owner.peer_id, member.peer_id}


async def test_a_late_joiner_completes_after_the_uploader_left(
    codex_node_factory: NodeFactory, http: httpx.AsyncClient
) -> None:
    owner = await codex_node_factory("owner")
    member = await codex_node_factory("member", bootstrap=[owner.spr])
    data = os.urandom(40 * BLOCK + 5)
    cid = await upload(http, owner, data)
    assert await network_download(http, member, cid) == data
    await owner.stop()

    # The late joiner knows the owner (from the member's table) but only the member answers.
    late = await codex_node_factory("late", bootstrap=[member.spr])
    assert owner.peer_id in late.network.peers
    assert await network_download(http, late, cid) == data
    assert set(late.network.received) == {member.peer_id}
    assert member.served[late.peer_id] >= len(data)


async def test_a_partial_holder_serves_what_it_has(
    codex_cluster: ClusterFactory, http: httpx.AsyncClient
) -> None:
    a, b, c = await codex_cluster(3)  # C is connected to A and B
    data = os.urandom(32 * BLOCK)
    cid = await upload(http, a, data)
    # B holds every block, then loses the first half: its have-list follows.
    assert await network_download(http, b, cid) == data
    leaves = b.store.tree_leaves(parse_cid(tree_of(a, cid)))
    assert leaves is not None
    for i in range(16):
        b.store._remove(block_cid_for_leaf(leaves[i * 32 : (i + 1) * 32]))
    exchange_b = f"http://{b.host}:{b.port}/_local/v1"
    bitmap = (await http.get(f"{exchange_b}/trees/{tree_of(a, cid)}/presence")).content
    assert [has_bit(bitmap, i) for i in range(32)] == [False] * 16 + [True] * 16

    # C asks B only for what B has: the first half comes from A, and nothing fails.
    assert await network_download(http, c, cid) == data
    assert a.served[c.peer_id] >= 16 * BLOCK
    assert b.served[c.peer_id] <= 16 * BLOCK


class SteppedClock(SystemClock):
    """Wall time that moves only when the test steps it (waits return at once)."""

    def __init__(self) -> None:
        self.t = 1000.0

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)


async def test_stale_presence_serves_while_it_is_asked_again(
    codex_node_factory: NodeFactory, http: httpx.AsyncClient
) -> None:
    clock = SteppedClock()
    owner = await codex_node_factory("owner")
    member = await codex_node_factory("member", bootstrap=[owner.spr])
    cid = await upload(http, owner, os.urandom(4 * BLOCK))
    await network_download(http, member, cid)
    joiner = await codex_node_factory("joiner", bootstrap=[owner.spr], clock=clock)
    await network_download(http, joiner, cid)
    tree = parse_cid(tree_of(owner, cid))
    known = await joiner.network.presence(tree)
    assert set(known.have) == {owner.peer_id, member.peer_id}

    await member.stop()
    clock.t += PRESENCE_MAX_AGE
    # Stale: the old answers serve at once while the peers are asked again.
    assert await joiner.network.presence(tree) is known
    fresh = await joiner.network.presence(tree, refresh=True)  # joins that round
    assert set(fresh.have) == {owner.peer_id}
    assert await joiner.network.presence(tree) is fresh


async def test_a_member_that_joined_earlier_learns_of_a_later_one(
    codex_node_factory: NodeFactory,
) -> None:
    owner = await codex_node_factory("owner")
    early = await codex_node_factory("early", bootstrap=[owner.spr])
    late = await codex_node_factory("late", bootstrap=[owner.spr])
    assert early.peer_id in late.network.peers  # from the owner's table
    await late.network.greeted()
    assert late.peer_id in early.network.peers  # the late one said hello


async def test_members_behind_a_narrow_owner_line_trade_instead_of_asking_it_again(
    codex_node_factory: NodeFactory, http: httpx.AsyncClient
) -> None:
    """Four members fetch at once from an owner whose uplink is 2 MiB/s (the bound: 2 s). They
    take from each other what another member holds and ask the owner only for the rest, so
    the owner sends the dataset about once, not once per member."""
    owner = await codex_node_factory("owner", uplink_bytes_per_s=32 * BLOCK)
    members = [await codex_node_factory(f"m{k}", bootstrap=[owner.spr]) for k in range(4)]
    for member in members:
        await member.network.greeted()
    data = os.urandom(64 * BLOCK)
    cid = await upload(http, owner, data)

    got = await asyncio.gather(*(network_download(http, m, cid) for m in members))
    assert all(g == data for g in got)
    owner_sent = sum(owner.served.values())
    assert owner_sent <= 1.75 * len(data), f"owner sent {owner_sent / len(data):.2f}x"
    assert sum(sum(m.served.values()) for m in members) >= 2 * len(data)
    assert not owner.requests["aborted"]


async def test_a_slow_run_is_not_aborted_while_its_bytes_flow(
    codex_node_factory: NodeFactory, http: httpx.AsyncClient
) -> None:
    """A run from a narrow line takes longer than the request timeout, but a block arrives
    every 1/16 s: nothing is aborted and asked again (the owner's line would pay twice)."""
    owner = await codex_node_factory("owner", uplink_bytes_per_s=16 * BLOCK)
    member = await codex_node_factory("member", bootstrap=[owner.spr], request_timeout=0.3)
    data = os.urandom(24 * BLOCK)  # runs of 1, 2, 4, 8 and 9 blocks: the last ones take > 0.3 s
    cid = await upload(http, owner, data)
    assert await network_download(http, member, cid) == data
    assert member.network.requests["timed_out"] == 0
    assert not owner.requests["aborted"]
    assert sum(owner.served.values()) == len(data) + len(owner.store.get(parse_cid(cid)) or b"")


async def test_a_watch_answers_when_the_holder_gets_blocks(
    codex_cluster: ClusterFactory, http: httpx.AsyncClient
) -> None:
    a, b = await codex_cluster(2)
    cid = await upload(http, a, os.urandom(8 * BLOCK))
    tree = tree_of(a, cid)
    watch = f"http://{b.host}:{b.port}/_local/v1/trees/{tree}/presence"
    first = await http.get(watch, params={"after": -1})  # answered at once: B holds nothing
    assert first.status_code == 404
    version = first.headers["X-Local-Presence-Version"]

    held = asyncio.ensure_future(http.get(watch, params={"after": version}))
    await http.get(f"{b.api_url}/debug/info")  # a round trip at B: the watch is there first
    assert not held.done()  # held: B's blocks have not changed yet
    assert await network_download(http, b, cid)  # B fetches: its watchers hear of it
    answer = await held
    assert answer.status_code == 200
    assert int(answer.headers["X-Local-Presence-Version"]) > int(version)
    assert len(answer.content) == 2  # held bitmap ‖ pending bitmap (8 blocks: a byte each)
    # The plain have-list (no `after`) still answers the held bitmap alone.
    assert (await http.get(watch)).content == bytes([0xFF])


async def test_a_slow_holder_is_not_asked_for_what_a_faster_peer_holds_or_fetches(
    codex_cluster: ClusterFactory, http: httpx.AsyncClient
) -> None:
    owner, fast, joiner = await codex_cluster(3)
    cid = await upload(http, owner, os.urandom(8 * BLOCK))
    manifest = owner.store.get_manifest(parse_cid(cid))
    assert manifest is not None
    leaves = owner.store.tree_leaves(manifest.tree_cid)
    assert leaves is not None
    net = joiner.network
    assert {owner.peer_id, fast.peer_id} <= set(net.peers)
    net.record_rate(owner.peer_id, BLOCK, 1.0)  # a narrow line shared with many members
    net.record_rate(fast.peer_id, 100 * BLOCK, 1.0)

    async def plan(
        have: dict[str, bytes], pending: dict[str, bytes]
    ) -> tuple[dict[str, int], set[int]]:
        """The joiner's planner: run requests per peer and the blocks asked for (the requests
        are then dropped)."""
        fetch = DatasetFetch(net, joiner.store, manifest, leaves)
        known = TreePresence(net.clock.now(), have, pending)
        assert fetch._plan(known, list(range(8))) == []
        runs = {p: net.runs_in_flight(p) for p in (owner.peer_id, fast.peer_id)}
        blocks = set(fetch._inflight)
        for task in list(fetch._requests):
            task.cancel()
        await asyncio.gather(*fetch._requests, return_exceptions=True)
        return runs, blocks

    # The fast member holds blocks 0-3 and is fetching 4-7: the owner is asked for nothing.
    runs, blocks = await plan(
        {owner.peer_id: b"\xff", fast.peer_id: b"\x0f"}, {fast.peer_id: b"\xf0"}
    )
    assert runs == {owner.peer_id: 0, fast.peer_id: 2}
    assert blocks and blocks <= set(range(4))
    # Nobody else holds or fetches 4-7: those are the owner's to send, 0-3 the fast one's.
    runs, blocks = await plan({owner.peer_id: b"\xff", fast.peer_id: b"\x0f"}, {})
    assert runs == {owner.peer_id: 2, fast.peer_id: 2}
    assert len(blocks & set(range(4, 8))) == 2  # the owner's runs: a block each at first


@pytest.mark.timeout(30)
async def test_a_reader_waits_for_a_finished_request_to_settle_instead_of_spinning(
    http: httpx.AsyncClient, codex_cluster
) -> None:
    """A request that ended without the block (its holder forgotten) whose done callback is
    still queued: the reader must yield to it, not loop on the done task, which never yields
    (a hang at 100% CPU seen in CI; without the fix this test hangs until its timeout)."""
    owner, joiner = await codex_cluster(2)
    cid = await upload(http, owner, os.urandom(2 * BLOCK))
    manifest = owner.store.get_manifest(parse_cid(cid))
    assert manifest is not None
    leaves = owner.store.tree_leaves(manifest.tree_cid)
    assert leaves is not None
    fetch = DatasetFetch(joiner.network, joiner.store, manifest, leaves)
    loop = asyncio.get_running_loop()
    finished: asyncio.Future[None] = loop.create_future()
    finished.set_result(None)  # ended with nothing kept
    fetch._inflight[0] = finished  # type: ignore[assignment]
    fetch._task = loop.create_future()  # type: ignore[assignment]  # the planner still works
    reader = asyncio.ensure_future(fetch.block(0))  # its first step runs before ...
    loop.call_soon(fetch._inflight.pop, 0)  # ... the request's settled callback
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert 0 not in fetch._inflight and not reader.done()  # settled; the reader waits on
    reader.cancel()
    await asyncio.gather(reader, return_exceptions=True)
