"""Server side of the local block exchange, under `/_local/v1` (see peers.py).

This is this project's stand-in for libp2p's block-exchange protocol and the DHT; it is not
part of the Codex REST API and no real Codex node speaks it.

- `POST /_local/v1/hello` (body: the caller's SPR, may be empty) → `{"spr": <ours>,
  "peers": [<SPRs of the peers we know>]}`; the caller becomes a connected peer.
- `GET /_local/v1/blocks/{cid}` → the stored block bytes (data blocks padded) or 404.
- `GET /_local/v1/trees/{treeCid}` → the dataset's leaf digests (n × 32 bytes) or 404.
- `GET /_local/v1/trees/{treeCid}/blocks?start=S&count=N` → blocks S…S+N-1 concatenated, or
  404 unless this node has all of them (N ≤ 64): one request per run instead of per block.
- `GET /_local/v1/trees/{treeCid}/presence` → which blocks of the dataset this node holds, a
  bitmap (block i is bit i % 8, least significant first, of byte i // 8), or 404 when it
  holds no block of it: the have-list of a want-list exchange. With `?after=V` (the
  `X-Local-Presence-Version` of an earlier answer; -1 at first) it is a watch: held until
  this node's blocks of the dataset change, at most PRESENCE_WAIT_S, as presence updates are
  pushed; it then answers the held bitmap followed by a bitmap of the same length of the
  blocks this node is fetching now (what its want-list would show).
- `GET /_local/v1/stats` → `{"profile": name, "served": {peerId: bytes}, "received":
  {peerId: bytes}}`: block-exchange bytes per peer, for reports on separate processes.

Blocks are served at the profile's per-peer exchange rate (the asker names itself in the
`X-Local-Peer-Id` header; else its address is the key), after its request latency.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web
from archive_service_codex.cid import (
    DIGEST_LEN,
    Cid,
    InvalidCidError,
    block_cid_for_leaf,
    parse_cid,
)

from archive_service.errors import InvalidInputError
from archive_service_codex_node.peers import (
    EXCHANGE_PREFIX,
    PEER_HEADER,
    PRESENCE_WAIT_S,
    VERSION_HEADER,
)

if TYPE_CHECKING:
    from archive_service_codex_node.server import LocalCodexNode

_MAX_SPR = 4096
MAX_RUN = 64  # blocks per run request (4 MiB of 64 KiB blocks)


def add_exchange_routes(app: web.Application, node: LocalCodexNode) -> None:
    async def hello(request: web.Request) -> web.Response:
        caller = (await request.content.read(_MAX_SPR + 1)).decode("utf-8", "replace").strip()
        caller_id = None
        if caller and len(caller) <= _MAX_SPR:
            with contextlib.suppress(InvalidInputError):
                peer = node.network.learn_spr(caller, connected=True)
                caller_id = peer.peer_id if peer else None
        peers = [p.spr for p in node.network.peers.values() if p.spr and p.peer_id != caller_id]
        body = json.dumps({"spr": node.spr, "peers": peers}, separators=(",", ":"))
        return web.Response(body=body.encode(), headers={"Content-Type": "application/json"})

    def octets(data: bytes) -> web.Response:
        return web.Response(body=data, headers={"Content-Type": "application/octet-stream"})

    def asker(request: web.Request) -> str:
        return request.headers.get(PEER_HEADER) or request.remote or ""

    async def serve_blocks(request: web.Request, blocks: list[bytes]) -> web.StreamResponse:
        """Blocks at the asker's share of the exchange rate, after the request latency."""
        peer = asker(request)
        await node.limits.exchange_latency()
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        response.content_length = sum(len(block) for block in blocks)
        await response.prepare(request)
        node.requests["served"] += 1
        sent = 0
        try:
            for block in blocks:
                await node.limits.exchange(peer, len(block))
                await response.write(block)
                node.served[peer] += len(block)
                sent += len(block)
            await response.write_eof()
        except ConnectionResetError:
            # The asker went away (stopped, or gave up on a slow answer): what was sent is
            # wasted uplink, counted for reports.
            node.requests["aborted"] += 1
            node.requests["aborted_bytes"] += sent
        return response

    def stored(
        lookup: Callable[[Cid], bytes | None],
        answer: Callable[[web.Request, bytes], Awaitable[web.StreamResponse]],
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        """A route of what the store holds under the path's CID: 400 for a malformed CID,
        404 when `lookup` finds nothing, else `answer` with what it found. (`lookup` reads
        `node.store` per request: the node has no store until it starts.)"""

        async def handler(request: web.Request) -> web.StreamResponse:
            try:
                cid = parse_cid(request.match_info["cid"])
            except InvalidCidError:
                return web.Response(status=400)
            found = lookup(cid)
            return web.Response(status=404) if found is None else await answer(request, found)

        return handler

    async def one_block(request: web.Request, data: bytes) -> web.StreamResponse:
        return await serve_blocks(request, [data])

    async def leaves(_request: web.Request, tree_leaves: bytes) -> web.StreamResponse:
        return octets(tree_leaves)

    async def run(request: web.Request) -> web.Response:
        try:
            tree = parse_cid(request.match_info["cid"])
            start = int(request.query["start"])
            count = int(request.query["count"])
        except (InvalidCidError, KeyError, ValueError):
            return web.Response(status=400)
        leaves = node.store.tree_leaves(tree)
        if leaves is None or start < 0 or not 0 < count <= MAX_RUN:
            return web.Response(status=404 if leaves is None else 400)
        blocks = []
        for i in range(start, start + count):
            leaf = leaves[i * DIGEST_LEN : (i + 1) * DIGEST_LEN]
            data = node.store.get(block_cid_for_leaf(leaf)) if len(leaf) == DIGEST_LEN else None
            if data is None:
                return web.Response(status=404)  # all or nothing: the asker falls back
            blocks.append(data)
        return await serve_blocks(request, blocks)

    async def presence(request: web.Request) -> web.Response:
        try:
            tree = parse_cid(request.match_info["cid"])
        except InvalidCidError:
            return web.Response(status=400)
        watch = request.query.get("after")
        if watch is not None:  # held until our blocks of the tree change
            with contextlib.suppress(ValueError):
                await node.network.holdings_change(tree, int(watch), PRESENCE_WAIT_S)
        version = {VERSION_HEADER: str(node.network.holdings_version(tree))}
        leaves = node.store.tree_leaves(tree)
        if leaves is None:
            return web.Response(status=404, headers=version)
        count = len(leaves) // DIGEST_LEN
        bitmap = bytearray((count + 7) // 8)
        for i in range(count):
            leaf = leaves[i * DIGEST_LEN : (i + 1) * DIGEST_LEN]
            if node.store.has(block_cid_for_leaf(leaf)):
                bitmap[i >> 3] |= 1 << (i & 7)
        body = bytes(bitmap)
        if watch is not None:
            body += node.network.fetching_bitmap(tree, count)
        if not any(body):
            return web.Response(status=404, headers=version)
        return web.Response(
            body=body, headers={"Content-Type": "application/octet-stream", **version}
        )

    async def stats(request: web.Request) -> web.Response:
        body = {
            "profile": node.limits.profile.name,
            "served": dict(node.served),
            "received": dict(node.network.received),
            "requests": {**node.requests, **node.network.requests},
        }
        return web.Response(
            body=json.dumps(body, separators=(",", ":")).encode(),
            headers={"Content-Type": "application/json"},
        )

    app.router.add_post(EXCHANGE_PREFIX + "/hello", hello)
    app.router.add_get(EXCHANGE_PREFIX + "/stats", stats, allow_head=False)
    app.router.add_get(
        EXCHANGE_PREFIX + "/trees/{cid}/presence",
        presence,
        allow_head=False,
    )
    app.router.add_get(EXCHANGE_PREFIX + "/trees/{cid}/blocks", run, allow_head=False)
    app.router.add_get(
        EXCHANGE_PREFIX + "/blocks/{cid}",
        stored(lambda cid: node.store.get(cid), one_block),
        allow_head=False,
    )
    app.router.add_get(
        EXCHANGE_PREFIX + "/trees/{cid}",
        stored(lambda cid: node.store.tree_leaves(cid), leaves),
        allow_head=False,
    )
