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
    decode_manifest,
)

from archive_service.errors import BackendError, InvalidInputError
from archive_service_codex_node.blockfetch import DatasetFetch
from archive_service_codex_node.blockstore import BlockStore, QuotaExceededError
from archive_service_codex_node.peers import BlockNotFoundError, PeerNetwork
from archive_service_codex_node.ratelimit import NodeLimits

log = logging.getLogger(__name__)

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

    # --- datasets -------------------------------------------------------------------------------

    async def iter_dataset(self, manifest: Manifest) -> AsyncIterator[bytes]:
        """The dataset's bytes in block-sized pieces (padding stripped), in order. Missing
        blocks are fetched from the peers that hold them and kept (blockfetch.py); blocks
        held already are read at the profile's local read rate."""
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
        async with DatasetFetch(self.net, self.store, manifest, leaves) as fetch:
            for i in range(count):
                data, fetched = await fetch.block(i)
                if not fetched:
                    await self.limits.local_read(len(data))
                if i == count - 1:
                    yield data[: manifest.dataset_size - i * size]
                else:
                    yield data

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
