"""What the local node does with data, independent of HTTP: store an upload, find a manifest,
stream a dataset (fetching missing blocks from peers and keeping them), delete, fetch a whole
dataset in the background. Mirrors `CodexNodeRef` in nim-codex `codex/node.nim`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, AsyncIterator

from archive_service_codex.cid import (
    DEFAULT_BLOCK_SIZE,
    DIGEST_LEN,
    Cid,
    CidBuilder,
    InvalidManifestError,
    Manifest,
    ManifestCoder,
    block_cid_for_leaf,
    decode_manifest,
)

from archive_service.errors import BackendError, InvalidInputError
from archive_service_codex_node.blockstore import BlockStore, QuotaExceededError
from archive_service_codex_node.peers import BlockNotFoundError, PeerNetwork
from archive_service_codex_node.ratelimit import NodeLimits

log = logging.getLogger(__name__)

PREFETCH_WINDOW = 64  # blocks fetched ahead of a reader (4 MiB)
RUN_BLOCKS = 16  # blocks asked of a peer in one request
MAX_BLOCK_SIZE = 1 << 20  # logos-storage allows up to 512 KiB; Codex uploads use 64 KiB
MAX_BLOCKS = 1 << 22  # 256 GiB of 64 KiB blocks; the leaf list is then 128 MiB
# The node's literal text: the Nim source forgot the `&` of its format string.
INVALID_MANIFEST_CODEC = "CID has invalid content type for manifest {$cid}"


class ManifestCodecError(BackendError):
    """The CID is not a manifest CID."""

    def __init__(self) -> None:
        super().__init__(INVALID_MANIFEST_CODEC)


class StoreError(BackendError):
    """Storing failed (quota exceeded, disk error); the message is the node's 500 body."""


class Engine:
    def __init__(self, store: BlockStore, network: PeerNetwork, limits: NodeLimits) -> None:
        self.store = store
        self.net = network
        self.limits = limits  # the profile's upload and local read rates
        self._background: set[asyncio.Task[None]] = set()

    async def stop(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

    # --- upload ---------------------------------------------------------------------------------

    async def upload(
        self,
        chunks: AsyncIterable[bytes],
        filename: str | None,
        mimetype: str | None,
        *,
        block_size: int = DEFAULT_BLOCK_SIZE,
        coder: ManifestCoder = ManifestCoder.CODEX,
        uploaded_at: int | None = None,
    ) -> Manifest:
        """Chunk, hash and store a stream (`coder`: the API generation's manifest coder).
        Raises InvalidInputError('Empty leaves') for no data and StoreError on a full quota;
        blocks this upload added are then removed."""
        builder = CidBuilder(block_size)
        added: list[Cid] = []
        leaves = bytearray()  # 32 bytes per 64 KiB block: 1/2048 of the data
        done = False
        try:
            async for chunk in chunks:
                await self.limits.upload(len(chunk))
                for block in builder.update(chunk):
                    self._store_upload_block(block.cid, block.data, added)
                    leaves += block.leaf
            for block in builder.close():
                self._store_upload_block(block.cid, block.data, added)
                leaves += block.leaf
            manifest = builder.finish(filename, mimetype, coder, uploaded_at)
            tree_was_new = not self.store.has_tree(manifest.tree_cid)
            self.store.put_tree(manifest.tree_cid, bytes(leaves), verified=True)
            try:
                self.store.put_manifest(manifest)
            except QuotaExceededError:
                if tree_was_new:
                    self.store.delete_tree(manifest.tree_cid)
                raise StoreError(f"Unable to store block {manifest.cid}") from None
            done = True
            return manifest
        finally:
            if not done:
                self.store.discard_unreferenced(added)

    def _store_upload_block(self, cid: Cid, data: bytes | memoryview, added: list[Cid]) -> None:
        try:
            if self.store.put(cid, data):
                added.append(cid)
        except QuotaExceededError:
            # codex/node.nim store(): the quota error is logged, the client reads this.
            raise StoreError(f"Unable to store block {cid}") from None
        except OSError as exc:
            raise StoreError(f"Unable to store block {cid}: {exc.strerror}") from None

    # --- blocks and manifests -------------------------------------------------------------------

    async def get_block(self, cid: Cid) -> bytes:
        """Any block by CID, local or from peers (kept, as the real network store does)."""
        data = self.store.get(cid)
        if data is not None:
            return data
        data = await self.net.want_block(cid)
        if cid.is_manifest:
            try:
                self.store.put_manifest(decode_manifest(data, cid))
            except (InvalidManifestError, QuotaExceededError) as exc:
                log.warning("fetched manifest %s not kept: %s", cid, exc)
        else:
            try:
                self.store.put(cid, data)
            except QuotaExceededError as exc:
                log.warning("fetched block %s not kept: %s", cid, exc)
        return data

    async def fetch_manifest(self, cid: Cid) -> Manifest:
        """Local or from peers (retry budget). ManifestCodecError / BlockNotFoundError."""
        if not cid.is_manifest:
            raise ManifestCodecError()
        manifest = self.store.get_manifest(cid)
        if manifest is not None:
            return manifest
        data = await self.net.want_block(cid)
        try:
            manifest = decode_manifest(data, cid)
        except InvalidManifestError as exc:
            raise BackendError(str(exc)) from None
        try:
            self.store.put_manifest(manifest)
        except QuotaExceededError as exc:
            raise StoreError(f"Unable to store block {cid}") from exc
        return manifest

    async def _leaves(self, manifest: Manifest) -> bytes:
        leaves = self.store.tree_leaves(manifest.tree_cid)
        if leaves is not None:
            return leaves
        leaves = await self.net.want_leaves(manifest.tree_cid, manifest.block_count)
        self.store.put_tree(manifest.tree_cid, leaves, verified=True)
        return leaves

    async def _fetch_data_block(
        self, cid: Cid, leaf: bytes, size: int, tree: Cid, index: int
    ) -> bytes:
        data = self.store.get(cid)
        if data is not None:
            return data
        data = await self.net.want_block(cid, leaf=leaf, size=size, tree=tree, index=index)
        try:
            self.store.put(cid, data)
        except QuotaExceededError as exc:
            log.warning("fetched block %s not kept: %s", cid, exc)
        return data

    # --- datasets -------------------------------------------------------------------------------

    async def _fetch_run(self, manifest: Manifest, start: int, leaves: bytes) -> list[bytes]:
        """Missing blocks start… (consecutive) from one peer in one request, else one by one
        (each with the retry budget). Every block is verified and kept."""
        size = manifest.block_size
        count = len(leaves) // DIGEST_LEN
        cids = [
            block_cid_for_leaf(leaves[i * DIGEST_LEN : (i + 1) * DIGEST_LEN]) for i in range(count)
        ]
        data = await self.net.ask_run(manifest.tree_cid, start, leaves, size)
        if data is None:
            return list(
                await asyncio.gather(
                    *(
                        self._fetch_data_block(
                            cid,
                            leaves[i * DIGEST_LEN : (i + 1) * DIGEST_LEN],
                            size,
                            manifest.tree_cid,
                            start + i,
                        )
                        for i, cid in enumerate(cids)
                    )
                )
            )
        blocks = [data[i * size : (i + 1) * size] for i in range(count)]
        for cid, block in zip(cids, blocks, strict=True):
            try:
                self.store.put(cid, block)
            except QuotaExceededError as exc:
                log.warning("fetched block %s not kept: %s", cid, exc)
        return blocks

    async def iter_dataset(self, manifest: Manifest) -> AsyncIterator[bytes]:
        """The dataset's bytes in block-sized pieces (padding stripped), in order. Missing
        blocks are fetched from peers in runs of up to RUN_BLOCKS, at most PREFETCH_WINDOW
        blocks ahead of the reader (so memory stays bounded), and kept."""
        if manifest.protected:
            raise BackendError("erasure-coded datasets are not supported by the local node")
        # Checked before anything is allocated: a manifest is whatever its author wrote.
        if not 0 < manifest.block_size <= MAX_BLOCK_SIZE:
            raise BackendError(
                f"block size {manifest.block_size} is not supported (max {MAX_BLOCK_SIZE})"
            )
        if manifest.block_count > MAX_BLOCKS:
            raise BackendError(
                f"dataset of {manifest.block_count} blocks is too large (max {MAX_BLOCKS})"
            )
        leaves = await self._leaves(manifest)
        count, size = manifest.block_count, manifest.block_size
        if len(leaves) != count * DIGEST_LEN:
            raise BackendError(f"tree {manifest.tree_cid} does not match manifest {manifest.cid}")

        def leaf(i: int) -> bytes:
            return leaves[i * DIGEST_LEN : (i + 1) * DIGEST_LEN]

        runs: dict[int, tuple[asyncio.Task[list[bytes]], int]] = {}  # index → (run, offset)
        tasks: list[asyncio.Task[list[bytes]]] = []
        scheduled = 0
        try:
            for i in range(count):
                while scheduled < min(count, i + PREFETCH_WINDOW):
                    first = scheduled
                    while (
                        scheduled < count
                        and scheduled - first < RUN_BLOCKS
                        and not self.store.has(block_cid_for_leaf(leaf(scheduled)))
                    ):
                        scheduled += 1
                    if scheduled == first:  # local: read when its turn comes
                        scheduled += 1
                        continue
                    task = asyncio.ensure_future(
                        self._fetch_run(
                            manifest, first, leaves[first * DIGEST_LEN : scheduled * DIGEST_LEN]
                        )
                    )
                    tasks.append(task)
                    for j in range(first, scheduled):
                        runs[j] = (task, j - first)
                entry = runs.pop(i, None)
                local = None if entry is not None else self.store.get(block_cid_for_leaf(leaf(i)))
                if entry is not None:
                    data: bytes | memoryview = (await entry[0])[entry[1]]
                elif local is not None:
                    await self.limits.local_read(len(local))
                    data = local
                else:  # was local when scheduled, gone since
                    data = await self._fetch_data_block(
                        block_cid_for_leaf(leaf(i)), leaf(i), size, manifest.tree_cid, i
                    )
                if i == count - 1:
                    yield data[: manifest.dataset_size - i * size]
                else:
                    yield data
        finally:
            for task in tasks:
                if task.done() and not task.cancelled():
                    task.exception()  # a prefetch that failed after the reader went away
                task.cancel()

    def fetch_in_background(self, manifest: Manifest) -> None:
        async def run() -> None:
            try:
                async for _ in self.iter_dataset(manifest):
                    pass
                log.info("dataset %s fetched", manifest.cid)
            except (BackendError, InvalidInputError) as exc:
                log.warning("background fetch of %s failed: %s", manifest.cid, exc)

        task = asyncio.ensure_future(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def delete(self, cid: Cid) -> None:
        manifest = self.store.get_manifest(cid)
        if manifest is not None:
            self.store.delete_dataset(manifest)
        else:
            self.store.delete_block(cid)


__all__ = [
    "INVALID_MANIFEST_CODEC",
    "BlockNotFoundError",
    "Engine",
    "ManifestCodecError",
    "StoreError",
]
