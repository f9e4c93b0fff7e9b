"""Peers of a local node and the client side of its block exchange.

Stand-in for libp2p + discv5 + the block-exchange protocol, over plain HTTP between local nodes
(`/_local/v1/…`, served by `exchange.py`). A peer is known from `/connect`, from a bootstrap
SPR, or from another node's table (bootstrap returns the bootstrap node's known peers, as a
DHT lookup would find them).

Like a want-list exchange, a node learns which peers have which blocks of a dataset: it asks
every known peer for its presence bitmap of the dataset's tree (`/trees/{treeCid}/presence`),
again when the answers are older than PRESENCE_MAX_AGE; while a download runs it watches each
peer instead (a held request answered when that peer's blocks change, with the blocks it is
fetching too). Runs of blocks are requested of one peer at a time (`request_run`), which
measures that peer's rate; blockfetch.py decides which run goes to which peer. A single block
(a manifest, or a block no known holder has) is asked of the known holders, least loaded
first, then of every known peer; when nobody has it, the request is retried `block_retries`
times, `retry_interval` apart, and then fails with the real node's `Error retries exhausted`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

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
from archive_service_codex_node.ratelimit import NodeLimits

log = logging.getLogger(__name__)

EXCHANGE_PREFIX = "/_local/v1"
PEER_HEADER = "X-Local-Peer-Id"  # who asks: the serving node's per-peer rate limit and counters
PRESENCE_MAX_AGE = 1.0  # seconds; holders fetch blocks too, so their bitmaps go stale
PRESENCE_WAIT_S = 5.0  # a watch request is held this long for a change of the holder's blocks
PRESENCE_MIN_INTERVAL = 0.2  # seconds between two watch requests to one peer (batches changes)
VERSION_HEADER = "X-Local-Presence-Version"
RETRIES_EXHAUSTED = "Error retries exhausted"
_MAX_BLOCK = 1 << 20
_MAX_PRESENCE = (1 << 22) // 8  # a bitmap of MAX_BLOCKS blocks


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


def has_bit(bitmap: bytes, index: int) -> bool:
    """Bit `index` of a presence bitmap (block i is bit i % 8, least significant first, of
    byte i // 8); beyond its end: not held."""
    return index >> 3 < len(bitmap) and bool(bitmap[index >> 3] >> (index & 7) & 1)


@dataclass
class TreePresence:
    """What each peer said it holds of one dataset tree, and when (node clock)."""

    checked_at: float
    have: dict[str, bytes] = field(default_factory=dict)  # peer id → presence bitmap
    # peer id → the blocks it is fetching now (from watches): it will hold them soon
    pending: dict[str, bytes] = field(default_factory=dict)
    version: int = 0  # bumped whenever `have` or `pending` changes in place


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
        # No total timeout: a run from a holder whose line is shared with many askers may take
        # long while its bytes flow, and aborting it would waste what the holder already sent.
        # A request stalls out only when no byte comes for `request_timeout`.
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=2.0, sock_read=request_timeout
        )
        self.peers: dict[str, Peer] = {}
        self.limits: NodeLimits | None = None  # the node's link buckets, set by the node
        self._session: aiohttp.ClientSession | None = None
        self._inflight: dict[tuple[str, Cid], asyncio.Task[bytes]] = {}
        self._presence: dict[Cid, TreePresence] = {}
        self._presence_refresh: dict[Cid, asyncio.Task[TreePresence]] = {}
        self._busy: Counter[str] = Counter()  # requests in flight per peer id
        self._runs: Counter[str] = Counter()  # run requests in flight per peer id
        self._rates: dict[str, float] = {}  # peer id → measured bytes/s of one run request
        self._last_run: dict[str, int] = {}  # peer id → blocks of its last answered run
        self._change = asyncio.Event()
        self._greeting: asyncio.Task[None] | None = None  # saying hello to learned peers
        self._stopping = False
        self._held: dict[Cid, tuple[int, asyncio.Event | None]] = {}  # our holdings' versions
        self._watchers: Counter[Cid] = Counter()  # downloads watching a tree's presence
        self._fetching: dict[Cid, Counter[int]] = {}  # tree → blocks we are fetching now
        self._watches: dict[Cid, dict[str, asyncio.Task[None]]] = {}  # tree → peer → watch
        self.received: Counter[str] = Counter()  # bytes received per peer id (blocks, trees)
        self.requests: Counter[str] = Counter()  # requests sent, and why they failed
        self.own_spr = ""

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=self._timeout,
            connector=aiohttp.TCPConnector(limit=64),
            headers={PEER_HEADER: self.identity.peer_id},
        )

    async def stop(self) -> None:
        self._stopping = True
        for _, event in self._held.values():  # answer held watches: the server can stop
            if event is not None:
                event.set()
        tasks = [*self._inflight.values(), *self._presence_refresh.values()]
        if self._greeting is not None:
            tasks.append(self._greeting)
        for watches in self._watches.values():
            tasks.extend(watches.values())
        self._watches.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._inflight.clear()
        self._presence_refresh.clear()
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
        """Like joining the DHT through bootstrap nodes: announce ourselves, learn their tables,
        then greet the peers learned there in the background, so that they know us too
        (members that joined earlier would otherwise never ask us for blocks; a real node
        finds them through the DHT)."""
        bootstrap_ids = set()
        for spr in sprs:
            record = decode_spr(spr)
            bootstrap_ids.add(record.peer_id)
            self.learn(record, spr)
            try:
                await self.dial(record.peer_id, record.addrs)
            except DialError as exc:
                log.warning("bootstrap node %s unreachable: %s", record.peer_id, exc)
        learned = [p for p in self.peers.values() if p.peer_id not in bootstrap_ids]
        if learned:
            self._greeting = asyncio.ensure_future(self._greet(learned))

    async def greeted(self) -> None:
        """Returns once the peers learned at bootstrap have been greeted (or did not answer)."""
        if self._greeting is not None:
            await asyncio.shield(self._greeting)

    async def _greet(self, peers: Sequence[Peer]) -> None:
        """A greeted peer that does not answer stays known: it may come back."""
        results = await asyncio.gather(
            *(self.dial(p.peer_id, p.addrs) for p in peers), return_exceptions=True
        )
        for peer, result in zip(peers, results, strict=True):
            if isinstance(result, DialError):
                log.info("peer %s from the bootstrap table unreachable: %s", peer.peer_id, result)
            elif isinstance(result, BaseException):
                raise result

    # --- wanting blocks -------------------------------------------------------------------------

    async def _get(self, peer: Peer, path: str, limit: int) -> bytes | None:
        """`path` from one peer (None: unreachable, not there, or larger than `limit`)."""
        self._busy[peer.peer_id] += 1
        self.requests["sent"] += 1
        try:
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
                except TimeoutError:
                    self.requests["timed_out"] += 1
                    continue
                except aiohttp.ClientError:
                    self.requests["failed"] += 1
                    continue
            return None
        finally:
            self._busy[peer.peer_id] -= 1

    async def _ask(
        self, path: str, limit: int, check: Callable[[bytes], bool], peers: Sequence[Peer]
    ) -> bytes | None:
        for peer in peers:
            data = await self._get(peer, path, limit)
            if data is not None and check(data):
                self.received[peer.peer_id] += len(data)
                if self.limits is not None:
                    await self.limits.downlink(len(data))
                return data
        return None

    async def _want(
        self,
        path: str,
        limit: int,
        check: Callable[[bytes], bool],
        order: Callable[[int], Awaitable[list[Peer]]],
    ) -> bytes:
        for round_ in range(self.block_retries):
            data = await self._ask(path, limit, check, await order(round_))
            if data is not None:
                return data
            await self.clock.sleep(self.retry_interval)
        raise BlockNotFoundError()

    async def _any_peer(self, _round: int) -> list[Peer]:
        return self.ordered_peers()

    async def _shared(
        self,
        key: tuple[str, Cid],
        path: str,
        limit: int,
        check: Callable[[bytes], bool],
        order: Callable[[int], Awaitable[list[Peer]]] | None = None,
    ) -> bytes:
        # Concurrent wants for the same thing share one exchange; a waiter that goes away
        # (client disconnected) does not cancel it for the others.
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._want(path, limit, check, order or self._any_peer))
            self._inflight[key] = task
            task.add_done_callback(lambda t: self._settled(key, t))
        return await asyncio.shield(task)

    def _settled(self, key: tuple[str, Cid], task: asyncio.Task[bytes]) -> None:
        self._inflight.pop(key, None)
        if not task.cancelled():
            task.exception()  # mark retrieved: every waiter may have gone away meanwhile

    # --- presence (who holds which blocks of a tree) ---------------------------------------

    async def presence(self, tree: Cid, *, refresh: bool = False) -> TreePresence:
        """What the known peers hold of `tree`. Asked of all of them at once when not known
        yet or `refresh` (and awaited); when older than PRESENCE_MAX_AGE and not watched
        (`watch`), asked again in the background while the old answers serve (a slow or
        unreachable peer does not stall the download). Concurrent askers share one round."""
        known = self._presence.get(tree)
        if known is not None and not refresh:
            watched = tree in self._watchers  # then the watches keep it fresh
            if not watched and self.clock.now() - known.checked_at >= PRESENCE_MAX_AGE:
                self._refresh_presence(tree)
            return known
        return await asyncio.shield(self._refresh_presence(tree))

    def _refresh_presence(self, tree: Cid) -> asyncio.Task[TreePresence]:
        task = self._presence_refresh.get(tree)
        if task is None:
            task = asyncio.ensure_future(self._ask_presence(tree))
            self._presence_refresh[tree] = task
            task.add_done_callback(lambda done: self._presence_settled(tree, done))
        return task

    def _presence_settled(self, tree: Cid, task: asyncio.Task[TreePresence]) -> None:
        self._presence_refresh.pop(tree, None)
        if not task.cancelled():
            task.exception()  # mark retrieved: a background refresh has no waiter

    async def _ask_presence(self, tree: Cid) -> TreePresence:
        asked_at = self.clock.now()
        peers = list(self.peers.values())
        path = f"/trees/{tree.text}/presence"
        answers = await asyncio.gather(*(self._get(peer, path, _MAX_PRESENCE) for peer in peers))
        previous = self._presence.get(tree)
        result = TreePresence(asked_at, version=previous.version + 1 if previous else 0)
        if previous is not None:
            result.pending = dict(previous.pending)  # only watches tell what peers fetch
        for peer, bitmap in zip(peers, answers, strict=True):
            if bitmap:
                result.have[peer.peer_id] = bitmap
        self._presence[tree] = result
        return result

    # --- watching presence while a dataset downloads -----------------------------------------

    def holdings_changed(self, tree: Cid) -> None:
        """This node now holds more (or fewer) blocks of `tree`: answers held watches."""
        version, event = self._held.get(tree, (0, None))
        if event is not None:
            event.set()
        self._held[tree] = (version + 1, None)

    def fetching(self, tree: Cid, blocks: Sequence[int], *, started: bool) -> None:
        """This node started (or ended) fetching `blocks` of `tree`: watchers see them as
        pending, the want-list they would see in a real exchange."""
        pending = self._fetching.setdefault(tree, Counter())
        for i in blocks:
            pending[i] += 1 if started else -1
            if pending[i] <= 0:
                del pending[i]
        if not pending:
            del self._fetching[tree]
        self.holdings_changed(tree)

    def fetching_bitmap(self, tree: Cid, count: int) -> bytes:
        bitmap = bytearray((count + 7) // 8)
        for i in self._fetching.get(tree, ()):
            if 0 <= i < count:
                bitmap[i >> 3] |= 1 << (i & 7)
        return bytes(bitmap)

    def holdings_version(self, tree: Cid) -> int:
        return self._held.get(tree, (0, None))[0]

    async def holdings_change(self, tree: Cid, after: int, timeout: float) -> None:
        """Returns when this node's holdings of `tree` are past version `after`, or after
        `timeout` seconds (the server side of a watch)."""
        version, event = self._held.get(tree, (0, None))
        if version != after or self._stopping:
            return
        if event is None:
            event = asyncio.Event()
            self._held[tree] = (version, event)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)

    async def watch(self, tree: Cid) -> TreePresence:
        """What the known peers hold of `tree` (asked now if not known yet), kept fresh until
        `unwatch`: each peer holds one request open and answers it when its blocks change,
        as a want-list exchange pushes presence updates. Watches of one tree are shared."""
        known = await self.presence(tree)
        self._watchers[tree] += 1
        self.watch_new_peers(tree)
        return known

    def watch_new_peers(self, tree: Cid) -> None:
        """Watches every known peer of a watched tree (peers learned since included)."""
        tasks = self._watches.setdefault(tree, {})
        for peer in list(self.peers.values()):
            if peer.peer_id not in tasks:
                tasks[peer.peer_id] = asyncio.ensure_future(self._watch_peer(tree, peer))

    def unwatch(self, tree: Cid) -> None:
        self._watchers[tree] -= 1
        if self._watchers[tree] <= 0:
            del self._watchers[tree]
            for task in self._watches.pop(tree, {}).values():
                task.cancel()

    async def _watch_peer(self, tree: Cid, peer: Peer) -> None:
        version: str | None = None
        while True:
            answered, body, version = await self._ask_watch(tree, peer, version)
            known = self._presence.get(tree)
            if known is not None:
                half = len(body or b"") // 2  # a watch answers held ‖ pending bitmaps
                held = (body or b"")[:half]
                fetching = (body or b"")[half:]
                changed = self._set_bitmap(known.have, peer.peer_id, held)
                changed = self._set_bitmap(known.pending, peer.peer_id, fetching) or changed
                if changed:
                    known.version += 1
                    self.changed()
            await self.clock.sleep(PRESENCE_MIN_INTERVAL if answered else PRESENCE_MAX_AGE)

    @staticmethod
    def _set_bitmap(bitmaps: dict[str, bytes], peer_id: str, bitmap: bytes) -> bool:
        if any(bitmap):
            changed = bitmaps.get(peer_id) != bitmap
            bitmaps[peer_id] = bitmap
            return changed
        return bitmaps.pop(peer_id, None) is not None

    async def _ask_watch(
        self, tree: Cid, peer: Peer, version: str | None
    ) -> tuple[bool, bytes | None, str | None]:
        """(answered, held ‖ pending bitmaps or None, the peer's holdings version) for one
        watch request (the first one only asks for the version)."""
        path = f"/trees/{tree.text}/presence?after={version or -1}"
        for base in peer.base_urls():
            try:
                async with self.session.get(base + path) as resp:
                    if resp.status == 404:
                        return True, None, resp.headers.get(VERSION_HEADER)
                    if resp.status != 200 or (resp.content_length or 0) > 2 * _MAX_PRESENCE:
                        continue
                    data = await resp.content.read(2 * _MAX_PRESENCE + 1)
                    if len(data) <= 2 * _MAX_PRESENCE:
                        return True, data, resp.headers.get(VERSION_HEADER)
            except (aiohttp.ClientError, TimeoutError):
                continue
        return False, None, None

    def _forget(self, tree: Cid, peer: Peer) -> None:
        """`peer` did not serve what its bitmap promised (gone, or dropped the data)."""
        known = self._presence.get(tree)
        if known is not None:
            forgot = known.have.pop(peer.peer_id, None), known.pending.pop(peer.peer_id, None)
            if forgot != (None, None):
                known.version += 1

    def _by_load(self, peer_ids: Sequence[str]) -> list[Peer]:
        peers = [self.peers[p] for p in peer_ids if p in self.peers]
        return sorted(peers, key=lambda p: (self._busy[p.peer_id], self.received[p.peer_id]))

    def _holders(self, known: TreePresence, start: int, count: int) -> list[Peer]:
        """Peers that hold blocks start…start+count-1, least loaded first."""
        return self._by_load(
            [
                peer_id
                for peer_id, bitmap in known.have.items()
                if all(has_bit(bitmap, i) for i in range(start, start + count))
            ]
        )

    # --- wanting blocks ---------------------------------------------------------------------

    async def want_block(
        self,
        cid: Cid,
        *,
        leaf: bytes | None = None,
        size: int | None = None,
        tree: Cid | None = None,
        index: int = 0,
    ) -> bytes:
        """A block from peers, verified: data blocks hash to their leaf (and have `size`
        bytes), any other block hashes to its CID digest. With its `tree` and `index`, the
        known holders are asked first (least loaded first), then everyone else."""
        digest = leaf if leaf is not None else cid.digest

        def check(data: bytes) -> bool:
            if size is not None and len(data) != size:
                return False
            return hashlib.sha256(data).digest() == digest

        async def holders_first(round_: int) -> list[Peer]:
            assert tree is not None
            known = await self.presence(tree, refresh=round_ > 0)
            holders = self._holders(known, index, 1)
            others = [p for p in self.ordered_peers() if p not in holders]
            return holders + others

        order = holders_first if tree is not None else None
        path = f"/blocks/{cid.text}"
        return await self._shared(("block", cid), path, size or _MAX_BLOCK, check, order)

    # --- runs of blocks from one peer (planned by blockfetch.py) -------------------------------

    def runs_in_flight(self, peer_id: str) -> int:
        return self._runs[peer_id]

    def last_run(self, peer_id: str) -> int:
        """Blocks in the last run `peer_id` answered (0: none yet)."""
        return self._last_run.get(peer_id, 0)

    def rate(self, peer_id: str) -> float | None:
        """Bytes per second one run request from `peer_id` recently delivered, from asking to
        the last byte (its queue at the holder included); None: not measured yet."""
        return self._rates.get(peer_id)

    async def next_change(self) -> None:
        """Returns when a run request ends or a download's reader moves on (`changed`)."""
        await self._change.wait()

    def changed(self) -> None:
        self._change.set()
        self._change = asyncio.Event()

    def request_run(
        self, peer: Peer, tree: Cid, start: int, leaves: bytes, size: int
    ) -> asyncio.Task[bytes | None]:
        """Blocks start… of a tree in one request to `peer`, each verified (None: it failed
        or served wrong bytes; it is then forgotten as a holder of this tree). The request
        counts in `runs_in_flight` from now until it ends; the time it took sets the peer's
        measured rate."""
        self._runs[peer.peer_id] += 1
        task = asyncio.ensure_future(self._run(peer, tree, start, leaves, size))

        def ended(_: asyncio.Task[bytes | None]) -> None:
            self._runs[peer.peer_id] -= 1
            self.changed()

        task.add_done_callback(ended)
        return task

    async def _run(
        self, peer: Peer, tree: Cid, start: int, leaves: bytes, size: int
    ) -> bytes | None:
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

        path = f"/trees/{tree.text}/blocks?start={start}&count={count}"
        asked_at = self.clock.now()
        data = await self._ask(path, count * size, check, [peer])
        if data is None:
            self._forget(tree, peer)
            return None
        self.record_rate(peer.peer_id, len(data), self.clock.now() - asked_at)
        self._last_run[peer.peer_id] = count
        return data

    def record_rate(self, peer_id: str, amount: int, seconds: float) -> None:
        """One run request from `peer_id` delivered `amount` bytes in `seconds` (averaged
        with the earlier ones; no time passed on the node's clock: not measured)."""
        if seconds > 0:
            measured = amount / seconds
            previous = self._rates.get(peer_id)
            self._rates[peer_id] = measured if previous is None else (previous + measured) / 2

    async def want_leaves(self, tree: Cid, count: int) -> bytes:
        """The leaf list of a dataset tree, checked against the tree root."""

        def check(data: bytes) -> bool:
            if len(data) != count * DIGEST_LEN:
                return False
            leaves = (data[i : i + DIGEST_LEN] for i in range(0, len(data), DIGEST_LEN))
            return merkle_root(leaves) == tree.digest

        return await self._shared(("tree", tree), f"/trees/{tree.text}", count * DIGEST_LEN, check)
