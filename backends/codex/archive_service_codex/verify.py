"""Checking fetched bytes against the CID that named them, before anything parses them.

A manifest CID is the SHA-256 of the encoded manifest, which holds the tree CID (the Merkle
root of the data blocks), the dataset size, the block size, the filename and the mimetype. The
node's manifest JSON gives the last three; rebuilding the manifest from them and from the
received bytes must reproduce the requested CID exactly. A node or peer that lies about any
field, or sends other bytes, fails this check — `/exists` proves none of it (status-go §11.10).
"""

from __future__ import annotations

from archive_service_codex.cid import CidBuilder, InvalidCidError, parse_cid
from archive_service_codex.client import CodexError, CodexSizeLimitError, Manifest

MAX_BLOCK_SIZE = 1 << 20  # real nodes use 64 KiB (logos-storage allows 4 KiB-512 KiB)


class CodexIntegrityError(CodexError):
    """Bytes or a manifest do not match the CID that was asked for; nothing was kept."""


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
        self._builder = CidBuilder(manifest.block_size)
        self.size = 0

    def update(self, data: bytes) -> None:
        self.size += len(data)
        self._builder.update(data)

    def check(self) -> None:
        if self.size != self.manifest.dataset_size:
            raise CodexIntegrityError(
                f"{self.cid} announced {self.manifest.dataset_size} bytes but {self.size} arrived"
            )
        if self.size == 0:
            raise CodexIntegrityError(f"{self.cid} is empty")
        self._builder.close()
        got = self._builder.finish(self.manifest.filename, self.manifest.mimetype)
        if got.cid != self.cid:
            raise CodexIntegrityError(
                f"the bytes received for {self.cid} hash to {got.cid} (tree {got.tree_cid}); "
                "the node or a peer sent other data than the CID names — nothing was kept"
            )
