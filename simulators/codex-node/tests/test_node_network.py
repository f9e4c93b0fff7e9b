"""Network fetch between local nodes: /connect, bootstrap SPRs, background fetch, bounded waits."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from archive_service_codex.cid import (
    block_cid_for_leaf,
    build_manifest,
    compute_manifest,
    parse_cid,
)
from archive_service_codex_node import LocalCodexNode
from archive_service_codex_node.testing import blocks_reach

from archive_service.clock import SystemClock

ClusterFactory = Callable[..., Awaitable[list[LocalCodexNode]]]
NodeFactory = Callable[..., Awaitable[LocalCodexNode]]

UNKNOWN = compute_manifest(b"nobody uploaded this").cid.text
HEADERS = {
    "Content-Type": "text/plain",
    "Content-Disposition": 'attachment; filename="example.txt"',
}


@pytest.fixture
async def http() -> httpx.AsyncClient:
    async with httpx.AsyncClient(timeout=20) as client:
        yield client


def overwrite(path: Path, data: bytes) -> None:
    path.write_bytes(data)


async def upload(http: httpx.AsyncClient, node: LocalCodexNode, data: bytes, **kw: object) -> str:
    r = await http.post(node.api_url + "/data", content=data, **kw)  # type: ignore[arg-type]
    assert r.status_code == 200, r.text
    return r.text


async def random_dataset(
    http: httpx.AsyncClient, node: LocalCodexNode, blocks: int, extra: int = 0
) -> tuple[bytes, str]:
    """`blocks` random 64 KiB blocks (and `extra` bytes) uploaded to `node`: data and CID."""
    data = os.urandom(blocks * 65536 + extra)
    return data, await upload(http, node, data)


async def space(http: httpx.AsyncClient, node: LocalCodexNode) -> dict[str, int]:
    return (await http.get(node.api_url + "/space")).json()


@pytest.mark.parametrize("link", ["connect", "bootstrap"])
async def test_stream_from_peer(
    codex_cluster: ClusterFactory, http: httpx.AsyncClient, link: str
) -> None:
    a, b = await codex_cluster(2, link=link)
    data = os.urandom(5 * 65536 + 17)
    cid = await upload(http, a, data, headers=HEADERS)
    assert (await http.get(f"{b.api_url}/data/{cid}/exists")).json() == {cid: False}

    r = await http.get(f"{b.api_url}/data/{cid}/network/stream")
    assert r.status_code == 200
    assert r.content == data
    assert r.headers["content-type"] == "text/plain"
    assert r.headers["content-disposition"] == 'attachment; filename="example.txt"'
    assert r.headers["access-control-expose-headers"] == "Content-Disposition"
    # B kept what it fetched: manifest + 6 padded blocks, and now serves it locally.
    assert (await http.get(f"{b.api_url}/data/{cid}/exists")).json() == {cid: True}
    assert await space(http, b) == await space(http, a)
    assert (await http.get(f"{b.api_url}/data/{cid}")).content == data


async def test_bootstrap_is_mutual(codex_cluster: ClusterFactory, http: httpx.AsyncClient) -> None:
    a, b = await codex_cluster(2, link="bootstrap")
    cid = await upload(http, b, b"uploaded on the joining node")
    r = await http.get(f"{a.api_url}/data/{cid}/network/stream")
    assert r.content == b"uploaded on the joining node"


async def test_third_node_learns_peers_through_bootstrap(
    codex_node_factory: NodeFactory, http: httpx.AsyncClient
) -> None:
    a = await codex_node_factory("a")
    b = await codex_node_factory("b", bootstrap=[a.spr])
    c = await codex_node_factory("c", bootstrap=[a.spr])
    cid = await upload(http, b, b"only b has it")
    assert (await http.get(f"{c.api_url}/data/{cid}/network/stream")).content == b"only b has it"


async def test_background_fetch_completes(
    codex_cluster: ClusterFactory, http: httpx.AsyncClient
) -> None:
    a, b = await codex_cluster(2)
    data, cid = await random_dataset(http, a, 20)
    r = await http.post(f"{b.api_url}/data/{cid}/network")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    item = r.json()
    assert item["cid"] == cid
    assert item["manifest"]["datasetSize"] == len(data)
    # No completion signal exists in this API version: wait until B stored all 21 blocks.
    await blocks_reach(b, lambda n: n == 21).wait()
    assert await space(http, b) == await space(http, a)
    await a.stop()  # now only B has it
    assert (await http.get(f"{b.api_url}/data/{cid}")).content == data


async def test_network_manifest(codex_cluster: ClusterFactory, http: httpx.AsyncClient) -> None:
    a, b = await codex_cluster(2)
    cid = await upload(http, a, b"abc", headers=HEADERS)
    r = await http.get(f"{b.api_url}/data/{cid}/network/manifest")
    assert r.status_code == 200
    assert r.json() == {
        "cid": cid,
        "manifest": {
            "treeCid": compute_manifest(b"abc").tree_cid.text,
            "datasetSize": 3,
            "blockSize": 65536,
            "filename": "example.txt",
            "mimetype": "text/plain",
            "protected": False,
        },
    }
    # Only the manifest block came over; it is listed like a local upload.
    assert (await space(http, b))["totalBlocks"] == 1
    assert [i["cid"] for i in (await http.get(b.api_url + "/data")).json()["content"]] == [cid]


class RecordingClock(SystemClock):
    """The nodes' clock for their retry waits: records each wait and returns at once, so the
    test checks the budget the node spends without spending it."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)


async def test_unknown_cid_waits_the_retry_budget(
    codex_cluster: ClusterFactory, http: httpx.AsyncClient
) -> None:
    clock = RecordingClock()
    (a, _b) = await codex_cluster(2, clock=clock)
    budget = [a.retry_interval] * a.block_retries  # one wait after each unanswered round

    r = await http.post(f"{a.api_url}/data/{UNKNOWN}/network")
    assert (r.status_code, r.text) == (404, "Error retries exhausted")
    assert clock.waits == budget

    clock.waits.clear()
    r = await http.get(f"{a.api_url}/data/{UNKNOWN}/network/manifest")
    assert (r.status_code, r.text) == (404, "Error retries exhausted")
    assert clock.waits == budget

    clock.waits.clear()
    r = await http.get(f"{a.api_url}/data/{UNKNOWN}/network/stream")
    assert (r.status_code, r.text) == (500, "Error retries exhausted")
    assert r.headers["content-type"] == "text/html"
    # The stream route waits twice: for the manifest, then for the CID as a single block.
    assert clock.waits == budget * 2


async def test_non_manifest_cids_on_network_routes(
    codex_cluster: ClusterFactory, http: httpx.AsyncClient
) -> None:
    a, b = await codex_cluster(2)
    await upload(http, a, b"some file contents")
    block = "zDxWB8ED98hxJ51XwYaoQAwMdskCcmTaPR6Ce2wq88bjvjXRYuR9"
    tree = "zDzSvJTezk7bJNQqFq8k1iHXY84psNuUfZVusA5bBQQUSuyzDSVL"
    text = "CID has invalid content type for manifest {$cid}"
    for cid in (block, tree):
        r = await http.post(f"{b.api_url}/data/{cid}/network")
        assert (r.status_code, r.text) == (404, text)
        r = await http.get(f"{b.api_url}/data/{cid}/network/manifest")
        assert (r.status_code, r.text) == (404, text)
    # A block some peer has: fetched, then refused as not a manifest.
    r = await http.get(f"{b.api_url}/data/{block}/network/stream")
    assert (r.status_code, r.text) == (404, text)
    # A tree root is not a block anybody stores.
    r = await http.get(f"{b.api_url}/data/{tree}/network/stream")
    assert (r.status_code, r.text) == (500, "Error retries exhausted")
    for route in ("network", "network/manifest"):
        r = await http.request(
            "POST" if route == "network" else "GET", f"{b.api_url}/data/bad/{route}"
        )
        assert (r.status_code, r.text) == (400, "Incorrect Cid")


async def test_connect(codex_cluster: ClusterFactory, http: httpx.AsyncClient) -> None:
    a, b = await codex_cluster(2, link=None)
    url = f"{b.api_url}/connect/{a.peer_id}"
    r = await http.get(url, params={"addrs": a.listen_addrs})
    assert (r.status_code, r.text, r.headers["content-type"]) == (
        200,
        "Successfully connected to peer",
        "text/plain",
    )
    # Known now: no addrs needed (the real node would look it up in the DHT).
    assert (await http.get(url)).status_code == 200

    stranger = "16Uiu2HAm6HZZr7aToTvEBPpiys4UxajCTU97zj5v7RNR2gbniy1D"
    r = await http.get(f"{b.api_url}/connect/{stranger}")
    assert (r.status_code, r.text) == (400, "Unable to find Peer!")
    r = await http.get(f"{b.api_url}/connect/{stranger}", params={"addrs": a.listen_addrs})
    assert (r.status_code, r.text) == (400, "Unable to dial peer")  # A is not that peer
    r = await http.get(f"{b.api_url}/connect/{a.peer_id}", params={"addrs": "/ip4/127.0.0.1/tcp/1"})
    assert (r.status_code, r.text) == (400, "Unable to dial peer")
    r = await http.get(f"{b.api_url}/connect/not-a-peer-id")
    assert (r.status_code, r.text) == (400, "peerid: incorrect PeerId string")


async def test_local_download_fetches_missing_blocks_on_demand(
    codex_cluster: ClusterFactory, http: httpx.AsyncClient
) -> None:
    """As the real node: once the manifest is local, GET /data/{cid} streams through the
    network store, fetching (and keeping) the blocks it lacks."""
    a, b = await codex_cluster(2)
    data, cid = await random_dataset(http, a, 3)
    assert (await http.get(f"{b.api_url}/data/{cid}/network/manifest")).status_code == 200
    r = await http.get(f"{b.api_url}/data/{cid}")
    assert r.content == data
    assert await space(http, b) == await space(http, a)


async def test_concurrent_streams_of_one_dataset(
    codex_cluster: ClusterFactory, http: httpx.AsyncClient
) -> None:
    a, b, c = await codex_cluster(3)
    data, cid = await random_dataset(http, a, 40, extra=1)
    results = await asyncio.gather(
        *(http.get(f"{node.api_url}/data/{cid}/network/stream") for node in (b, b, c, c))
    )
    assert all(r.content == data for r in results)
    assert await space(http, b) == await space(http, a) == await space(http, c)


async def test_a_peer_serving_wrong_bytes_is_not_believed(
    codex_cluster: ClusterFactory, http: httpx.AsyncClient
) -> None:
    a, b = await codex_cluster(2)
    data, cid = await random_dataset(http, a, 2)
    # Corrupt A's copy of the second block on disk (a faulty or lying peer).
    manifest = a.store.get_manifest(parse_cid(cid))
    assert manifest is not None
    leaves = a.store.tree_leaves(manifest.tree_cid)
    assert leaves is not None
    second = block_cid_for_leaf(leaves[32:64])
    overwrite(Path(a.store._path(second)), b"\x00" * 65536)
    # A notices the damage when reading and drops the block; B never gets it. B fails the
    # download before its first byte (500) or part-way, after the good first block.
    try:
        r = await http.get(f"{b.api_url}/data/{cid}/network/stream")
        assert r.status_code in (200, 500)
        assert r.content != data
    except httpx.RemoteProtocolError:
        pass  # the stream ended short of its Content-Length
    assert not b.store.has(second)
    assert not a.store.has(second)


@pytest.mark.parametrize(
    ("dataset_size", "block_size", "message"),
    [
        (2**40, 2**30, "block size 1073741824 is not supported"),
        (2**62, 65536, "is too large"),
    ],
)
async def test_absurd_manifests_are_refused_before_allocation(
    codex_cluster: ClusterFactory,
    http: httpx.AsyncClient,
    dataset_size: int,
    block_size: int,
    message: str,
) -> None:
    a, b = await codex_cluster(2)
    tree = compute_manifest(b"x").tree_cid
    crafted = build_manifest(tree, dataset_size, block_size)  # valid protobuf, hostile sizes
    a.store.put_manifest(crafted)
    r = await http.get(f"{b.api_url}/data/{crafted.cid}/network/stream")
    assert r.status_code == 500
    assert message in r.text
