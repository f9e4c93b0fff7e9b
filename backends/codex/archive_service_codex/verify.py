"""Checking fetched bytes against the CID that named them, before anything parses them.

A manifest CID is the SHA-256 of the encoded manifest, which holds the tree CID (the Merkle
root of the data blocks), the dataset size, the block size, the filename and the mimetype. The
node's manifest JSON gives the last three; rebuilding the manifest from them and from the
received bytes must reproduce the requested CID exactly. A node or peer that lies about any
field, or sends other bytes, fails this check — `/exists` proves none of it (status-go §11.10).
"""

from __future__ import annotations

import hashlib

from archive_service_codex.cid import (
    DEFAULT_BLOCK_SIZE,
    Cid,
    InvalidCidError,
    MerkleBuilder,
    build_manifest,
    parse_cid,
    tree_cid_for_root,
)
from archive_service_codex.client import (
    UPLOAD_FILENAME,
    UPLOAD_MIMETYPE,
    CodexError,
    CodexSizeLimitError,
    Manifest,
)

MAX_BLOCK_SIZE = 1 << 20  # real nodes use 64 KiB (logos-storage allows 4 KiB-512 KiB)


class CodexIntegrityError(CodexError):
    """Bytes or a manifest do not match the CID that was asked for; nothing was kept."""


class LeafHasher:
    """The dataset half of the CID recipe (cid.py) for bytes that are only checked, not
    stored: leaves are hashed straight from the incoming buffers (no block copies), so
    verifying costs little more than one SHA-256 pass."""

    def __init__(self, block_size: int = DEFAULT_BLOCK_SIZE) -> None:
        self.block_size = block_size
        self.size = 0
        self._partial = bytearray()
        self._tree = MerkleBuilder()

    def update(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        self.size += len(view)
        bs = self.block_size
        if self._partial:
            take = min(bs - len(self._partial), len(view))
            self._partial += view[:take]
            view = view[take:]
            if len(self._partial) < bs:
                return
            self._tree.add(hashlib.sha256(self._partial).digest())
            self._partial.clear()
        whole = len(view) - len(view) % bs
        for start in range(0, whole, bs):
            self._tree.add(hashlib.sha256(view[start : start + bs]).digest())
        self._partial += view[whole:]

    def manifest_cid(self, filename: str | None, mimetype: str | None) -> tuple[Cid, Cid]:
        """(manifest CID, tree CID); the last block is zero-padded as the node pads it."""
        if self._partial:
            self._partial += bytes(self.block_size - len(self._partial))
            self._tree.add(hashlib.sha256(self._partial).digest())
            self._partial.clear()
        tree = tree_cid_for_root(self._tree.root())
        manifest = build_manifest(tree, self.size, self.block_size, filename, mimetype)
        return manifest.cid, tree


def upload_cid(data: bytes | bytearray | memoryview) -> str:
    """The manifest CID a Codex node gives `data` uploaded the way status-go uploads it
    (`archive-data.bin`, `application/octet-stream`)."""
    hasher = LeafHasher()
    hasher.update(data)
    return hasher.manifest_cid(UPLOAD_FILENAME, UPLOAD_MIMETYPE)[0].text


class CidVerifier:
    """Feed the bytes of `cid` with `update`; `check()` raises unless they are exactly it."""

    def __init__(self, cid: str, manifest: Manifest, max_size: int) -> None:
        try:
            parsed = parse_cid(cid)
        except InvalidCidError as exc:
            raise CodexIntegrityError(f"{cid!r} is not a CID: {exc}") from exc
        if not parsed.is_manifest:
            raise CodexIntegrityError(f"{cid} is not a Codex manifest CID")
        if manifest.protected:
            raise CodexIntegrityError(
                f"{cid} is an erasure-coded dataset; archives are plain uploads"
            )
        if not 0 < manifest.block_size <= MAX_BLOCK_SIZE:
            raise CodexIntegrityError(
                f"manifest of {cid} has block size {manifest.block_size}, "
                f"outside 1..{MAX_BLOCK_SIZE}"
            )
        if manifest.dataset_size > max_size:
            raise CodexSizeLimitError(
                f"{cid} holds {manifest.dataset_size} bytes, over the cap of {max_size} bytes; "
                "raise the cap in the codex settings if this is expected"
            )
        self.cid = parsed
        self.manifest = manifest
        self._hasher = LeafHasher(manifest.block_size)

    @property
    def size(self) -> int:
        return self._hasher.size

    def update(self, data: bytes) -> None:
        self._hasher.update(data)

    def check(self) -> None:
        if self.size != self.manifest.dataset_size:
            raise CodexIntegrityError(
                f"{self.cid} announced {self.manifest.dataset_size} bytes but {self.size} arrived"
            )
        if self.size == 0:
            raise CodexIntegrityError(f"{self.cid} is empty")
        got, tree = self._hasher.manifest_cid(self.manifest.filename, self.manifest.mimetype)
        if got != self.cid:
            raise CodexIntegrityError(
                f"the bytes received for {self.cid} hash to {got} (tree {tree}); "
                "the node or a peer sent other data than the CID names — nothing was kept"
            )
