"""Persistent content-addressed block store with the Codex repo's quota accounting.

Layout under `<data-dir>/repo`:

- `blocks/<xx>/<cid>`: one file per block, named by its CID text (`xx` = first hex byte of
  the digest). Data blocks are stored padded to the block size; manifests are blocks too.
- `trees/<treeCid>`: the dataset's leaf digests (n × 32 bytes), i.e. the (treeCid, index) →
  block CID mapping of the real repo store.
- Every write is `fsutil.atomic_write` (temp file `.<name>.….tmp` beside it, then rename), so a
  crash never leaves a half-written block under a CID name; leftover temp files are removed at
  start. Blocks and trees are not fsynced (`durable=False`): every read checks them against
  their CID or tree root, and a block lost in a crash is fetched again, while an fsync per
  64 KiB block would multiply the cost of an upload several times over.

Accounting follows `repostore`: `quotaUsedBytes` is the sum of stored block sizes (padded data
blocks, manifests at their encoded length), `totalBlocks` counts unique blocks, a block already
stored adds nothing. A data block is referenced by each (tree, index) that maps to it and is
deleted with the last reference, like the real `delBlock(treeCid, index)`.

Single-threaded by design: every method is synchronous and runs on the node's event loop.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from archive_service_codex.cid import (
    BLOCK_CODEC,
    DIGEST_LEN,
    SHA2_256,
    Cid,
    InvalidCidError,
    InvalidManifestError,
    Manifest,
    block_cid_for_leaf,
    decode_manifest,
    merkle_root,
    parse_cid,
)

from archive_service.errors import BackendError
from archive_service.fsutil import atomic_write

log = logging.getLogger(__name__)


def _is_leftover(name: str) -> bool:
    """A temporary file of a write a crash interrupted (CID names never start with a dot)."""
    return name.startswith(".")


class QuotaExceededError(BackendError):
    """Storing a block would exceed the node's storage quota."""


class BlockStore:
    def __init__(self, repo_dir: Path, quota_bytes: int) -> None:
        self.root = repo_dir
        self.quota_bytes = quota_bytes
        self.used_bytes = 0
        self.total_blocks = 0
        self._sizes: dict[Cid, int] = {}
        self._refs: Counter[Cid] = Counter()
        self._trees: set[Cid] = set()
        self._manifests: dict[Cid, Manifest] = {}
        self._blocks_dir = str(repo_dir / "blocks")

    # --- start-up -------------------------------------------------------------------------------

    def open(self) -> None:
        for sub in ("blocks", "trees"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        for shard in range(256):
            (self.root / "blocks" / f"{shard:02x}").mkdir(exist_ok=True)
        for entry in os.scandir(self.root / "trees"):
            if _is_leftover(entry.name):
                os.unlink(entry.path)
                continue
            try:
                tree = parse_cid(entry.name)
            except InvalidCidError:
                continue
            leaves = Path(entry.path).read_bytes()
            split = (leaves[i : i + DIGEST_LEN] for i in range(0, len(leaves), DIGEST_LEN))
            if not leaves or len(leaves) % DIGEST_LEN or merkle_root(split) != tree.digest:
                log.warning("dropping corrupt tree index %s", entry.name)
                os.unlink(entry.path)
                continue
            self._trees.add(tree)
            self._refs.update(self._leaf_cids(leaves))
        for shard in os.scandir(self.root / "blocks"):
            for entry in os.scandir(shard.path):
                if _is_leftover(entry.name):
                    os.unlink(entry.path)
                else:
                    self._load_block(Path(entry.path))
        # Blocks no tree references are leftovers of an upload that did not finish.
        for cid in [c for c in self._sizes if c.codec == BLOCK_CODEC and not self._refs[c]]:
            self._remove(cid)

    def _load_block(self, path: Path) -> None:
        try:
            cid = parse_cid(path.name)
        except InvalidCidError:
            return
        if str(path) != self._path(cid) or cid in self._sizes:
            path.unlink()  # not where this store puts it: not ours to account for
            return
        size = path.stat().st_size
        if cid.is_manifest:
            try:
                self._manifests[cid] = decode_manifest(path.read_bytes(), cid)
            except InvalidManifestError:
                log.warning("dropping corrupt manifest block %s", cid)
                path.unlink()
                return
        self._sizes[cid] = size
        self.used_bytes += size
        self.total_blocks += 1

    @staticmethod
    def _leaf_cids(leaves: bytes) -> Iterator[Cid]:
        for i in range(0, len(leaves), DIGEST_LEN):
            yield block_cid_for_leaf(leaves[i : i + DIGEST_LEN])

    # --- blocks ---------------------------------------------------------------------------------

    def _path(self, cid: Cid) -> str:
        # Plain strings: pathlib costs more than the write itself at 64 KiB per block.
        return f"{self._blocks_dir}/{cid.digest[0]:02x}/{cid.text}"

    def has(self, cid: Cid) -> bool:
        return cid in self._sizes

    def get(self, cid: Cid) -> bytes | None:
        """The block, checked against its CID. A block that no longer matches (blocks are not
        fsynced, so a crash can leave an empty or partial file) is dropped: callers see it as
        missing and fetch it again rather than serve wrong bytes."""
        if cid not in self._sizes:
            return None
        try:
            with open(self._path(cid), "rb") as f:
                data = f.read()
        except FileNotFoundError:
            data = b""
        if cid.mh_code != SHA2_256 or hashlib.sha256(data).digest() != cid.digest:
            log.warning("block %s is damaged on disk; dropping it", cid)
            self._remove(cid)
            return None
        return data

    def put(self, cid: Cid, data: bytes | memoryview) -> bool:
        """Store a block (caller has verified `data` against `cid`). True if it was new."""
        if cid in self._sizes:
            return False
        if self.used_bytes + len(data) > self.quota_bytes:
            raise QuotaExceededError(
                f"storing block {cid} ({len(data)} bytes) would exceed the storage quota "
                f"({self.used_bytes} of {self.quota_bytes} bytes used)"
            )
        atomic_write(self._path(cid), data, durable=False)
        self._sizes[cid] = len(data)
        self.used_bytes += len(data)
        self.total_blocks += 1
        return True

    def _remove(self, cid: Cid) -> None:
        size = self._sizes.pop(cid, None)
        if size is None:
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path(cid))
        self.used_bytes -= size
        self.total_blocks -= 1
        self._manifests.pop(cid, None)

    def delete_block(self, cid: Cid) -> None:
        """Delete one block unless a dataset still references it (missing: no-op)."""
        if self._refs[cid] == 0:
            self._remove(cid)

    def discard_unreferenced(self, cids: list[Cid]) -> None:
        """Roll back blocks a failed upload stored that no dataset references."""
        for cid in cids:
            if cid.codec == BLOCK_CODEC and self._refs[cid] == 0:
                self._remove(cid)

    # --- trees (the (treeCid, index) → block mapping) -------------------------------------------

    def has_tree(self, tree: Cid) -> bool:
        return tree in self._trees

    def put_tree(self, tree: Cid, leaves: bytes, *, verified: bool = False) -> None:
        """Record a dataset's leaves (`verified`: the caller already checked the root)."""
        if tree in self._trees:
            return
        if not leaves or len(leaves) % DIGEST_LEN:
            raise ValueError("a tree index is a non-empty list of 32-byte leaves")
        if not verified:
            split = (leaves[i : i + DIGEST_LEN] for i in range(0, len(leaves), DIGEST_LEN))
            if merkle_root(split) != tree.digest:
                raise ValueError(f"leaves do not hash to tree {tree}")
        atomic_write(self.root / "trees" / tree.text, leaves, durable=False)
        self._trees.add(tree)
        self._refs.update(self._leaf_cids(leaves))

    def tree_leaves(self, tree: Cid) -> bytes | None:
        if tree not in self._trees:
            return None
        try:
            return (self.root / "trees" / tree.text).read_bytes()
        except FileNotFoundError:
            return None

    def delete_tree(self, tree: Cid) -> None:
        leaves = self.tree_leaves(tree)
        if leaves is None:
            return
        (self.root / "trees" / tree.text).unlink(missing_ok=True)
        self._trees.discard(tree)
        for cid in self._leaf_cids(leaves):
            self._refs[cid] -= 1
            if self._refs[cid] <= 0:
                del self._refs[cid]
                self._remove(cid)

    # --- manifests ------------------------------------------------------------------------------

    def put_manifest(self, manifest: Manifest) -> bool:
        new = self.put(manifest.cid, manifest.encoded)
        self._manifests[manifest.cid] = manifest
        return new

    def get_manifest(self, cid: Cid) -> Manifest | None:
        return self._manifests.get(cid)

    def manifests(self) -> list[Manifest]:
        return list(self._manifests.values())

    def delete_dataset(self, manifest: Manifest) -> None:
        """As the node: every block (treeCid, i) of the dataset, then the manifest block."""
        self.delete_tree(manifest.tree_cid)
        self._remove(manifest.cid)
