"""Peers of a local node and the client side of its block exchange.

Stand-in for libp2p + discv5 + the block-exchange protocol, over plain HTTP between local nodes
(`/_local/v1/…`, served by `exchange.py`). A peer is known from `/connect`, from a bootstrap
SPR, or from another node's table (bootstrap returns the bootstrap node's known peers, as a
DHT lookup would find them). Wanted blocks are asked of every known peer, connected ones first;
when nobody has one, the request is retried `block_retries` times, `retry_interval` apart, and
then fails with the real node's `Error retries exhausted`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import aiohttp
from archive_service_codex.cid import DIGEST_LEN, Cid, merkle_root

from archive_service.clock import Clock, SystemClock
from archive_service.errors import BackendError, InvalidInputError
from archive_service_codex_node.identity import (
    NodeIdentity,
    PeerRecord,
    decode_spr,
    parse_tcp_multiaddr,
)

log = logging.getLogger(__name__)

EXCHANGE_PREFIX = "/_local/v1"
RETRIES_EXHAUSTED = "Error retries exhausted"
_MAX_BLOCK = 1 << 20


class BlockNotFoundError(BackendError):
    """No peer had the block (or manifest, or tree) within the retry budget."""

    def __init__(self, message: str = RETRIES_EXHAUSTED) -> None:
        super().__init__(message)


class DialError(BackendError):
    """A peer could not be reached at the given addresses, or is not who it claimed to be."""


@dataclass
class Peer:
    peer_id: str
    addrs: tuple[str, ...]
    spr: str = ""
    connected: bool = False

    def base_urls(self) -> list[str]:
        urls = []
        for addr in self.addrs:
            with contextlib.suppress(InvalidInputError):
                host, port = parse_tcp_multiaddr(addr)
                urls.append(f"http://{host}:{port}{EXCHANGE_PREFIX}")
        return urls


class PeerNetwork:
    def __init__(
        self,
        identity: NodeIdentity,
        *,
        block_retries: int,
        retry_interval: float,
        request_timeout: float = 30.0,
        clock: Clock | None = None,
    ) -> None:
        self.identity = identity
        self.block_retries = max(1, block_retries)
        self.retry_interval = retry_interval
        self.clock: Clock = clock or SystemClock()
        self._timeout = aiohttp.ClientTimeout(total=request_timeout, sock_connect=2.0)
        self.peers: dict[str, Peer] = {}
        self._session: aiohttp.ClientSession | None = None
        self._inflight: dict[tuple[str, Cid], asyncio.Task[bytes]] = {}
        self.own_spr = ""

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=self._timeout, connector=aiohttp.TCPConnector(limit=64)
        )

    async def stop(self) -> None:
        for task in list(self._inflight.values()):
            task.cancel()
        await asyncio.gather(*self._inflight.values(), return_exceptions=True)
        self._inflight.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise BackendError("the local node's peer network is not started")
        return self._session

    # --- the peer table -------------------------------------------------------------------------

    def learn(self, record: PeerRecord, spr: str, *, connected: bool = False) -> Peer | None:
        if record.peer_id == self.identity.peer_id:
            return None
        peer = self.peers.get(record.peer_id)
        if peer is None:
            peer = self.peers[record.peer_id] = Peer(record.peer_id, record.addrs, spr, connected)
        else:
            if record.addrs:
                peer.addrs = record.addrs
            peer.spr = spr or peer.spr
            peer.connected = peer.connected or connected
        return peer

    def learn_spr(self, spr: str, *, connected: bool = False) -> Peer | None:
        return self.learn(decode_spr(spr), spr, connected=connected)

    def ordered_peers(self) -> list[Peer]:
        return sorted(self.peers.values(), key=lambda p: not p.connected)

    async def dial(self, peer_id: str, addrs: Sequence[str]) -> Peer:
        """Reach the peer at one of `addrs`, check its identity, exchange tables."""
        last_error = "no address"
        for addr in addrs:
            try:
                host, port = parse_tcp_multiaddr(addr)
            except InvalidInputError as exc:
                last_error = str(exc)
                continue
            url = f"http://{host}:{port}{EXCHANGE_PREFIX}/hello"
            try:
                async with self.session.post(url, data=self.own_spr.encode()) as resp:
                    if resp.status != 200:
                        last_error = f"HTTP {resp.status} from {url}"
                        continue
                    answer = await resp.json(content_type=None)
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                last_error = f"{url}: {exc!r}"
                continue
            spr = answer.get("spr", "") if isinstance(answer, dict) else ""
            try:
                record = decode_spr(spr)
            except InvalidInputError as exc:
                last_error = str(exc)
                continue
            if record.peer_id != peer_id:
                last_error = f"{addr} is peer {record.peer_id}, not {peer_id}"
                continue
            peer = self.learn(record, spr, connected=True)
            for other in answer.get("peers", []):
                with contextlib.suppress(InvalidInputError, TypeError):
                    self.learn_spr(other)
            if peer is None:
                raise DialError("cannot dial self")
            return peer
        raise DialError(f"cannot dial {peer_id}: {last_error}")

    async def bootstrap(self, sprs: Sequence[str]) -> None:
        """Like joining the DHT through bootstrap nodes: announce ourselves, learn their tables."""
        for spr in sprs:
            record = decode_spr(spr)
            self.learn(record, spr)
            try:
                await self.dial(record.peer_id, record.addrs)
            except DialError as exc:
                log.warning("bootstrap node %s unreachable: %s", record.peer_id, exc)

    # --- wanting blocks -------------------------------------------------------------------------

    async def _ask(self, path: str, limit: int) -> bytes | None:
        for peer in self.ordered_peers():
            for base in peer.base_urls():
                try:
                    async with self.session.get(base + path) as resp:
                        # Refuse oversized answers before reading them into memory.
                        if resp.status != 200 or (resp.content_length or 0) > limit:
                            continue
                        data = (
                            await resp.content.read(limit + 1)
                            if resp.content_length is None
                            else await resp.read()
                        )
                        if len(data) <= limit:
                            return data
                except (aiohttp.ClientError, TimeoutError):
                    continue
        return None

    async def _want(self, path: str, limit: int, check: Callable[[bytes], bool]) -> bytes:
        for _ in range(self.block_retries):
            data = await self._ask(path, limit)
            if data is not None and check(data):
                return data
            await self.clock.sleep(self.retry_interval)
        raise BlockNotFoundError()

    async def _shared(
        self, key: tuple[str, Cid], path: str, limit: int, check: Callable[[bytes], bool]
    ) -> bytes:
        # Concurrent wants for the same thing share one exchange; a waiter that goes away
        # (client disconnected) does not cancel it for the others.
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._want(path, limit, check))
            self._inflight[key] = task
            task.add_done_callback(lambda t: self._settled(key, t))
        return await asyncio.shield(task)

    def _settled(self, key: tuple[str, Cid], task: asyncio.Task[bytes]) -> None:
        self._inflight.pop(key, None)
        if not task.cancelled():
            task.exception()  # mark retrieved: every waiter may have gone away meanwhile

    async def want_block(
        self, cid: Cid, *, leaf: bytes | None = None, size: int | None = None
    ) -> bytes:
        """A block from peers, verified: data blocks hash to their leaf (and have `size`
        bytes), any other block hashes to its CID digest."""
        digest = leaf if leaf is not None else cid.digest

        def check(data: bytes) -> bool:
            if size is not None and len(data) != size:
                return False
            return hashlib.sha256(data).digest() == digest

        return await self._shared(("block", cid), f"/blocks/{cid.text}", size or _MAX_BLOCK, check)

    async def ask_run(self, tree: Cid, start: int, leaves: bytes, size: int) -> bytes | None:
        """Blocks start… of a tree in one request, from a peer that has them all (one round,
        no retries: the caller falls back to single blocks). Each block is verified."""
        count = len(leaves) // DIGEST_LEN

        def check(data: bytes) -> bool:
            if len(data) != count * size:
                return False
            view = memoryview(data)
            return all(
                hashlib.sha256(view[i * size : (i + 1) * size]).digest()
                == leaves[i * DIGEST_LEN : (i + 1) * DIGEST_LEN]
                for i in range(count)
            )

        data = await self._ask(
            f"/trees/{tree.text}/blocks?start={start}&count={count}", count * size
        )
        return data if data is not None and check(data) else None

    async def want_leaves(self, tree: Cid, count: int) -> bytes:
        """The leaf list of a dataset tree, checked against the tree root."""

        def check(data: bytes) -> bool:
            if len(data) != count * DIGEST_LEN:
                return False
            leaves = (data[i : i + DIGEST_LEN] for i in range(0, len(data), DIGEST_LEN))
            return merkle_root(leaves) == tree.digest

        return await self._shared(("tree", tree), f"/trees/{tree.text}", count * DIGEST_LEN, check)
