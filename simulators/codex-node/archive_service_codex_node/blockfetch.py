"""Which missing blocks of one dataset to ask of which peer, and when: the want side of the
local block exchange for one download (`DatasetFetch`), over `PeerNetwork`'s presence and run
requests.

Like a want-list exchange, and so that a holder's line is not spent twice on the same bytes:
- each peer gets at most MAX_RUNS_PER_PEER run requests at a time from this node, so a slow
  holder (an owner whose uplink many members share) is not handed a queue that other holders
  could have served;
- a block goes to a holder that delivers fast: a holder measured more than SLOW_FACTOR times
  slower than another source of the block (a peer holding it, or fetching it now as its
  watch says) is not asked for it (a peer not measured yet counts as fast, so every holder
  is tried); with an owner behind a narrow line, members take from each other what another
  member holds or is about to hold, and ask the owner only for the rest;
- the rarest blocks first (with the fewest sources), each download in its own random order
  (a hash of the index), so members that start together ask a shared holder for different
  blocks and then trade them, instead of all asking for the same first run;
- a request holds about RUN_TARGET_S of the holder's measured rate (1…RUN_BLOCKS
  consecutive blocks; INITIAL_RUN_BLOCKS before it is measured), so a slow holder is asked
  for a block or two at a time and no member queues megabytes there.

Blocks are fetched up to HORIZON blocks ahead of the reader, at most PREFETCH_WINDOW of them
in flight, and kept in the store; the reader takes them from there. A block that no known peer
holds, even after asking everyone for presence again, is asked of every peer on its own with
the node's retry budget (`PeerNetwork.want_block`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from typing import Any

from archive_service_codex.cid import DIGEST_LEN, Cid, Manifest, block_cid_for_leaf

from archive_service.asyncutil import StartStop
from archive_service_codex_node.blockstore import BlockStore, QuotaExceededError
from archive_service_codex_node.peers import PeerNetwork, TreePresence

log = logging.getLogger(__name__)

PREFETCH_WINDOW = 64  # blocks in flight for one download (4 MiB of 64 KiB blocks)
HORIZON = 4 * PREFETCH_WINDOW  # how far ahead of the reader blocks are fetched
RUN_BLOCKS = 16  # most blocks asked of a peer in one request
INITIAL_RUN_BLOCKS = 1  # a request to a peer whose rate is not measured yet
RUN_TARGET_S = 0.5  # a request holds about this long of the peer's measured rate
MAX_RUNS_PER_PEER = 2  # run requests in flight to one peer (one answering, one queued)
SLOW_FACTOR = 4.0  # a holder this many times slower than another holder is not asked


class DatasetFetch(StartStop):
    """The missing blocks of one dataset, fetched from the peers that hold them while a reader
    takes the dataset block by block (`block(i)`, in order). Use as `async with`."""

    def __init__(
        self,
        net: PeerNetwork,
        store: BlockStore,
        manifest: Manifest,
        leaves: bytes,
        rng: random.Random | None = None,
    ) -> None:
        self.net = net
        self.store = store
        self.tree = manifest.tree_cid
        self.count = manifest.block_count
        self.size = manifest.block_size
        self._leaves = leaves
        self._cids: dict[int, Cid] = {}
        self._reader = 0
        self._salt = (rng or random.Random()).getrandbits(32)  # this download's block order
        self._inflight: dict[int, asyncio.Task[None]] = {}  # block index → its request
        self._fetched: set[int] = set()  # kept by this download: not charged as local reads
        self._unkept: dict[int, bytes] = {}  # fetched but refused by the quota
        self._failed: dict[int, BaseException] = {}  # why a block could not be had
        self._task: asyncio.Task[None] | None = None
        self._requests: set[asyncio.Task[Any]] = set()
        self._masks: tuple[TreePresence, int, dict[str, int], dict[str, int]] | None = None

    async def start(self) -> None:
        await self.net.watch(self.tree)
        self._task = asyncio.ensure_future(self._plan_loop())

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._requests) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.net.unwatch(self.tree)

    # --- the reader ---------------------------------------------------------------------------

    def leaf(self, i: int) -> bytes:
        return self._leaves[i * DIGEST_LEN : (i + 1) * DIGEST_LEN]

    def cid(self, i: int) -> Cid:
        cid = self._cids.get(i)
        if cid is None:
            cid = self._cids[i] = block_cid_for_leaf(self.leaf(i))
        return cid

    async def block(self, i: int) -> tuple[bytes, bool]:
        """Block `i` (padded) and whether this download fetched it (else it was held
        already). Raises what fetching it raised (BlockNotFoundError, …)."""
        if i != self._reader:
            self._reader = i
            self._forget_passed()
            self.net.changed()  # the horizon moved on
        while True:
            if i in self._failed:
                raise self._failed[i]
            if i in self._unkept:
                return self._unkept.pop(i), True
            data = self.store.get(self.cid(i))
            if data is not None:
                return data, i in self._fetched
            request = self._inflight.get(i)
            if request is not None:
                if request.done():
                    # Its done callback (settled) is queued but has not run: awaiting a done
                    # task does not yield, so this loop would spin and it would never run.
                    await asyncio.sleep(0)
                else:
                    await asyncio.shield(request)  # its failure is raised; else stored now
                continue
            assert self._task is not None
            if self._task.done():
                self._task.result()  # the planner failed: raise why
                await self._want_single(i)  # it had finished; the block went away since
                continue
            change = asyncio.ensure_future(self.net.next_change())
            try:
                await asyncio.wait([self._task, change], return_when=asyncio.FIRST_COMPLETED)
            finally:
                change.cancel()

    def _forget_passed(self) -> None:
        for i in [i for i in self._cids if i < self._reader]:
            del self._cids[i]
        self._fetched = {i for i in self._fetched if i >= self._reader}

    # --- planning -----------------------------------------------------------------------------

    def _wanted(self) -> list[int]:
        end = min(self.count, self._reader + HORIZON)
        return [
            i
            for i in range(self._reader, end)
            if i not in self._inflight
            and i not in self._unkept
            and i not in self._failed
            and not self.store.has(self.cid(i))
        ]

    def _masks_of(self, known: TreePresence) -> tuple[dict[str, int], dict[str, int]]:
        """Each peer's held and pending bitmaps as ints (bit i: block i), cached per version."""
        if self._masks is None or self._masks[0] is not known or self._masks[1] != known.version:
            held = {p: int.from_bytes(b, "little") for p, b in known.have.items()}
            coming = {p: int.from_bytes(b, "little") for p, b in known.pending.items()}
            self._masks = (known, known.version, held, coming)
        return self._masks[2], self._masks[3]

    async def _plan_loop(self) -> None:
        while True:
            wanted = self._wanted()
            if not wanted:
                if not self._inflight and self._reader + HORIZON >= self.count:
                    return  # everything is held or being read
            else:
                self.net.watch_new_peers(self.tree)
                known = await self.net.presence(self.tree)  # asked again when stale
                orphans = self._plan(known, wanted)
                if orphans:
                    known = await self.net.presence(self.tree, refresh=True)
                    orphans = self._plan(known, self._wanted())
                    for i in orphans[: max(0, PREFETCH_WINDOW - len(self._inflight))]:
                        self._launch([i], self._want_single(i))
            await self.net.next_change()

    def _plan(self, known: TreePresence, wanted: list[int]) -> list[int]:
        """Send run requests for `wanted` blocks to free holders; returns the wanted blocks
        no known peer holds or is fetching."""
        held, coming = self._masks_of(known)
        holders = {i: [p for p, mask in held.items() if mask >> i & 1] for i in wanted}
        # Peers fetching a block now hold it soon: a slower holder is not asked for it.
        sources = {
            i: holders[i] + [p for p, m in coming.items() if m >> i & 1 and p not in holders[i]]
            for i in wanted
        }
        orphans = [i for i in wanted if not sources[i]]
        # Rarest first, then in this download's own random order.
        order = sorted(
            (i for i in wanted if holders[i]), key=lambda i: (len(sources[i]), self._rank(i))
        )
        peers = sorted(
            (self.net.peers[p] for p in held if p in self.net.peers),
            key=lambda peer: -(self.net.rate(peer.peer_id) or float("inf")),
        )
        for peer in peers:
            while (
                self.net.runs_in_flight(peer.peer_id) < MAX_RUNS_PER_PEER
                and len(self._inflight) < PREFETCH_WINDOW
            ):
                run = self._run_for(peer.peer_id, order, holders, sources)
                if not run:
                    break
                leaves = self._leaves[run[0] * DIGEST_LEN : (run[-1] + 1) * DIGEST_LEN]
                request = self.net.request_run(peer, self.tree, run[0], leaves, self.size)
                self._requests.add(request)
                request.add_done_callback(self._requests.discard)
                self._launch(run, self._keep_run(request, run[0], len(run)))
                order = [i for i in order if i not in self._inflight]
        return orphans

    def _rank(self, i: int) -> int:
        """Block i's place in this download's random order (a multiplicative hash: members
        that start together ask a shared holder for different blocks)."""
        return ((i ^ self._salt) * 2654435761) & 0xFFFFFFFF

    def _eligible(self, peer_id: str, sources: list[str]) -> bool:
        """No other source of the block (holder or peer fetching it) is more than
        SLOW_FACTOR times faster than `peer_id` (a peer not measured yet counts as fast)."""
        rate = self.net.rate(peer_id)
        if rate is None:
            return True
        for other in sources:
            if other != peer_id:
                other_rate = self.net.rate(other)
                if other_rate is None or other_rate > SLOW_FACTOR * rate:
                    return False
        return True

    def _run_for(
        self,
        peer_id: str,
        order: list[int],
        holders: dict[int, list[str]],
        sources: dict[int, list[str]],
    ) -> list[int]:
        """The best run of wanted blocks to ask of `peer_id`: starting at the first block in
        `order` it may be asked for, grown to its run size (slow start: at most twice its
        last run)."""
        rate = self.net.rate(peer_id)
        last = self.net.last_run(peer_id)
        limit = (
            INITIAL_RUN_BLOCKS
            if rate is None or not last
            else max(1, min(RUN_BLOCKS, 2 * last, int(rate * RUN_TARGET_S / self.size)))
        )
        limit = min(limit, PREFETCH_WINDOW - len(self._inflight))

        def free(i: int) -> bool:
            return (
                i in holders
                and i not in self._inflight
                and peer_id in holders[i]
                and self._eligible(peer_id, sources[i])
            )

        for first in order:
            if not free(first):
                continue
            start, end = first, first + 1  # grown forwards, then backwards
            while end - start < limit and free(end):
                end += 1
            while end - start < limit and free(start - 1):
                start -= 1
            return list(range(start, end))
        return []

    # --- requests -----------------------------------------------------------------------------

    def _launch(self, blocks: list[int], work: object) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(work)  # type: ignore[arg-type]
        self._requests.add(task)
        for i in blocks:
            self._inflight[i] = task

        def settled(done: asyncio.Task[None]) -> None:
            self.net.fetching(self.tree, blocks, started=False)
            self._requests.discard(done)
            for i in blocks:
                if self._inflight.get(i) is done:
                    del self._inflight[i]
            error = None if done.cancelled() else done.exception()
            if error is not None:  # the reader raises it when it comes to the block
                self._failed.update(dict.fromkeys(blocks, error))
            self.net.changed()

        task.add_done_callback(settled)
        self.net.fetching(self.tree, blocks, started=True)

    async def _keep_run(self, request: asyncio.Task[bytes | None], start: int, count: int) -> None:
        data = await request
        if data is None:
            return  # forgotten as a holder: planned again from the others
        for k in range(count):
            self._keep(start + k, data[k * self.size : (k + 1) * self.size])

    async def _want_single(self, i: int) -> None:
        data = await self.net.want_block(
            self.cid(i), leaf=self.leaf(i), size=self.size, tree=self.tree, index=i
        )
        self._keep(i, data)

    def _keep(self, i: int, data: bytes) -> None:
        try:
            self.store.put(self.cid(i), data)
        except QuotaExceededError as exc:
            log.warning("fetched block %s not kept: %s", self.cid(i), exc)
            self._unkept[i] = data
        self._fetched.add(i)
        self.net.holdings_changed(self.tree)


__all__ = [
    "HORIZON",
    "INITIAL_RUN_BLOCKS",
    "MAX_RUNS_PER_PEER",
    "PREFETCH_WINDOW",
    "RUN_BLOCKS",
    "RUN_TARGET_S",
    "SLOW_FACTOR",
    "DatasetFetch",
]
