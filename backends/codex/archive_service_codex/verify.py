"""Checking bytes and manifests against the CID that named them, whatever the node's manifest
coder (issue 13, item 6).

A manifest CID is the SHA-256 of the encoded manifest, which holds the tree CID (the Merkle
root of the data blocks), the dataset size, the block size, the filename and the mimetype.
Three coders (Codex, Logos Storage January 2026, Logos Storage latest; some builds also write
the upload time) give different manifest CIDs for the same fields, so:
- the content is checked by its tree CID, recomputed from the bytes with the manifest's block
  size, and by its size;
- the node's manifest CID is accepted when the manifest the node serves for it (its JSON,
  re-encoded by each coder) hashes to that CID and carries the expected fields.
A node or peer that lies about any field, or sends other bytes, fails — `/exists` proves none
of it (status-go §11.10).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from archive_service_codex.cid import (
    DEFAULT_BLOCK_SIZE,
    Cid,
    InvalidCidError,
    ManifestCoder,
    MerkleBuilder,
    build_manifest,
    candidate_manifests,
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

    def tree_cid(self) -> Cid:
        """The tree CID (the hasher is consumed); the last block is zero-padded as the node
        pads it."""
        if self._partial:
            self._partial += bytes(self.block_size - len(self._partial))
            self._tree.add(hashlib.sha256(self._partial).digest())
            self._partial.clear()
        return tree_cid_for_root(self._tree.root())

    def manifest_cid(
        self,
        filename: str | None,
        mimetype: str | None,
        coder: ManifestCoder = ManifestCoder.CODEX,
    ) -> tuple[Cid, Cid]:
        """(manifest CID by `coder`, tree CID); the hasher is consumed."""
        tree = self.tree_cid()
        manifest = build_manifest(tree, self.size, self.block_size, filename, mimetype, coder)
        return manifest.cid, tree


@dataclass(frozen=True)
class ExpectedUpload:
    """What an upload of some bytes must give: its tree CID and size, and the manifest CID each
    coder would give it (`cids`)."""

    tree_cid: Cid
    size: int
    block_size: int
    filename: str | None
    mimetype: str | None
    cids: dict[ManifestCoder, str]


def expected_upload(
    data: bytes | bytearray | memoryview,
    filename: str | None = UPLOAD_FILENAME,
    mimetype: str | None = UPLOAD_MIMETYPE,
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> ExpectedUpload:
    hasher = LeafHasher(block_size)
    hasher.update(data)
    tree = hasher.tree_cid()
    cids = {
        m.coder: m.cid.text
        for m in candidate_manifests(tree, hasher.size, block_size, filename, mimetype)
    }
    return ExpectedUpload(tree, hasher.size, block_size, filename, mimetype, cids)


def genuine_coder(cid: str, manifest: Manifest) -> ManifestCoder:
    """The coder by which the manifest the node serves for `cid` hashes to `cid`;
    CodexIntegrityError when none does (the node lies about a field or the CID)."""
    try:
        parsed = parse_cid(cid)
        tree = parse_cid(manifest.tree_cid)
    except InvalidCidError as exc:
        raise CodexIntegrityError(f"manifest of {cid} is not usable: {exc}") from exc
    if not parsed.is_manifest:
        raise CodexIntegrityError(f"{cid} is not a manifest CID")
    candidates = candidate_manifests(
        tree,
        manifest.dataset_size,
        manifest.block_size,
        manifest.filename,
        manifest.mimetype,
        manifest.uploaded_at,
    )
    for candidate in candidates:
        if candidate.cid == parsed:
            return candidate.coder
    raise CodexIntegrityError(
        f"the manifest the node serves for {cid} (tree {manifest.tree_cid}, "
        f"{manifest.dataset_size} bytes, block size {manifest.block_size}, filename "
        f"{manifest.filename!r}, mimetype {manifest.mimetype!r}) does not hash to it with any "
        "known manifest coder; the node lies about the CID or a field — nothing was kept"
    )


def check_upload(cid: str, manifest: Manifest, expected: ExpectedUpload) -> ManifestCoder:
    """Owner side: the node stored the upload as `cid` and serves `manifest` for it. Accepted
    when that manifest carries the expected tree CID, size, block size, filename and mimetype
    and hashes to `cid`; returns the coder that did (CodexIntegrityError otherwise)."""
    problems = []
    if manifest.tree_cid != expected.tree_cid.text:
        problems.append(f"tree {manifest.tree_cid}, not {expected.tree_cid}")
    if manifest.dataset_size != expected.size:
        problems.append(f"{manifest.dataset_size} bytes, not {expected.size}")
    if manifest.block_size != expected.block_size:
        problems.append(f"block size {manifest.block_size}, not {expected.block_size}")
    if manifest.filename != expected.filename:
        problems.append(f"filename {manifest.filename!r}, not {expected.filename!r}")
    if manifest.mimetype != expected.mimetype:
        problems.append(f"mimetype {manifest.mimetype!r}, not {expected.mimetype!r}")
    if manifest.protected:
        problems.append("an erasure-coded dataset")
    if problems:
        raise CodexIntegrityError(
            f"the node stored the upload as {cid}, whose manifest says "
            + "; ".join(problems)
            + " — it is not what was uploaded, nothing is published"
        )
    return genuine_coder(cid, manifest)


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
        genuine_coder(parsed.text, manifest)  # before any byte is fetched
        self.cid = parsed
        self.manifest = manifest
        self._hasher = LeafHasher(manifest.block_size)

    @property
    def size(self) -> int:
        return self._hasher.size

    def update(self, data: bytes) -> None:
        self._hasher.update(data)

    def check(self) -> None:
        """The bytes' tree CID (with the manifest's block size) and size are the manifest's,
        and the manifest hashes to the CID by one of the known coders."""
        if self.size != self.manifest.dataset_size:
            raise CodexIntegrityError(
                f"{self.cid} announced {self.manifest.dataset_size} bytes but {self.size} arrived"
            )
        if self.size == 0:
            raise CodexIntegrityError(f"{self.cid} is empty")
        tree = self._hasher.tree_cid()
        if tree.text != self.manifest.tree_cid:
            raise CodexIntegrityError(
                f"the bytes received for {self.cid} hash to tree {tree}, not the manifest's "
                f"{self.manifest.tree_cid}; the node or a peer sent other data than the CID "
                "names — nothing was kept"
            )
        genuine_coder(self.cid.text, self.manifest)
