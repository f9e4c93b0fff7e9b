"""Codex / Logos Storage CIDs and manifests, byte-identical to the nodes (reference/codex.md
§2, logos-storage.md §2).

Three manifest coders exist (`ManifestCoder`): Codex v0.2.x's, Logos Storage's January-2026
interim one and its latest (manifestVersion) one. Block and tree CIDs are the same in all three;
manifest CIDs differ (and a pre-v0.2.0 build also wrote the upload time, field 10).

Upload recipe: 64 KiB blocks (last one zero-padded), leaf = SHA-256(block), CodexTree Merkle
root, tree CID = CIDv1(codex-root, sha2-256 root), manifest protobuf, manifest CID =
CIDv1(codex-manifest, SHA-256(manifest bytes)). Text form: multibase base58btc (`z…`).

`CidBuilder` computes all of it incrementally: memory is one block plus O(log n) tree nodes,
whatever the dataset size.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any

from archive_service import varint
from archive_service.errors import InvalidInputError
from archive_service_codex import strictpb
from archive_service_codex.codex_manifest_pb2 import (
    CodexManifest,
    InterimManifestHeader,
    ManifestHeader,
    StorageManifest,
    StorageManifestEnvelope,
)

# --- constants (codex/codextypes.nim, codex/multicodec_exts.nim) ---------------------------------

MANIFEST_CODEC = 0xCD01  # codex-manifest
BLOCK_CODEC = 0xCD02  # codex-block
TREE_CODEC = 0xCD03  # codex-root
SHA2_256 = 0x12
DAG_PB = 0x70
DEFAULT_BLOCK_SIZE = 65536
CID_V1_WIRE_VERSION = 2  # the manifest stores Nim's enum ordinal of CIDv1, not 1
DIGEST_LEN = 32

_KEY_NONE = b"\x00"
_KEY_BOTTOM = b"\x01"
_KEY_ODD = b"\x02"
_KEY_ODD_BOTTOM = b"\x03"
_ZERO = bytes(32)

# Content codecs nim-libp2p's Cid.init accepts (its ContentIds list) plus Codex's own; any other
# codec makes the node answer 400.
KNOWN_CONTENT_CODECS: frozenset[int] = frozenset(
    {
        0x55,  # raw
        0x70,  # dag-pb
        0x71,  # dag-cbor
        0x72,  # libp2p-key
        0x78,  # git-raw
        0x7B,  # torrent-info
        0x7C,  # torrent-file
        *range(0x90, 0x99),  # eth-block … eth-storage-trie
        0xB0,  # bitcoin-block
        0xB1,  # bitcoin-tx
        0xC0,  # zcash-block
        0xC1,  # zcash-tx
        0xD0,  # stellar-block
        0xD1,  # stellar-tx
        0xE0,  # decred-block
        0xE1,  # decred-tx
        0xF0,  # dash-block
        0xF1,  # dash-tx
        0x0129,  # dag-json
        *range(0xCD01, 0xCD07),  # codex-manifest … codex-slot-cell
    }
)

# Multihash codes with their fixed digest length (None: any length, i.e. identity).
_MULTIHASH_LENGTHS: dict[int, int | None] = {
    0x00: None,  # identity
    0x11: 20,  # sha1
    0x12: 32,  # sha2-256
    0x13: 64,  # sha2-512
    0x14: 64,  # sha3-512
    0x15: 48,  # sha3-384
    0x16: 32,  # sha3-256
    0x17: 28,  # sha3-224
    0x1A: 28,  # keccak-224
    0x1B: 32,  # keccak-256
    0x1C: 48,  # keccak-384
    0x1D: 64,  # keccak-512
    0xB220: 32,  # blake2b-256
    0xB240: 64,  # blake2b-512
    0xB260: 32,  # blake2s-256
    0xCD10: 32,  # poseidon2-alt_bn_128-sponge-r2
    0xCD11: 32,  # poseidon2-alt_bn_128-merkle-2kb
    0xCD12: 32,  # poseidon2-alt_bn_128-keyed-compress
}

# The node's 400 bodies (codex/rest/coders.nim).
INCORRECT_CID = "Incorrect Cid"
UNSUPPORTED_CID = "Unsupported Cid"


class InvalidCidError(InvalidInputError):
    """A CID string or binary CID cannot be parsed.

    `reason` is the body the real node answers with 400 (`Incorrect Cid`, `Unsupported Cid`).
    """

    def __init__(self, message: str, reason: str = INCORRECT_CID) -> None:
        super().__init__(message)
        self.reason = reason


class InvalidManifestError(InvalidInputError):
    """Bytes that claim to be a Codex manifest cannot be decoded (or do not match their CID)."""


# --- base58btc and multibase ----------------------------------------------------------------------

B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_FLICKR = "123456789abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ"
_B58_INDEX = {c: i for i, c in enumerate(B58_ALPHABET)}
_B58_FLICKR_INDEX = {c: i for i, c in enumerate(_B58_FLICKR)}


def b58encode(data: bytes, alphabet: str = B58_ALPHABET) -> str:
    n = int.from_bytes(data, "big")
    out: list[str] = []
    while n:
        n, r = divmod(n, 58)
        out.append(alphabet[r])
    zeros = len(data) - len(data.lstrip(b"\0"))
    return alphabet[0] * zeros + "".join(reversed(out))


def b58decode(text: str, index: dict[str, int] = _B58_INDEX) -> bytes:
    n = 0
    for ch in text:
        digit = index.get(ch)
        if digit is None:
            raise ValueError(f"invalid base58 character {ch!r}")
        n = n * 58 + digit
    zeros = len(text) - len(text.lstrip(next(iter(index))))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return b"\0" * zeros + body


def _unpadded(decoder: Any, text: str, quantum: int) -> bytes:
    if "=" in text:
        raise ValueError("unexpected padding")
    return decoder(text + "=" * (-len(text) % quantum))


def _base36_decode(text: str) -> bytes:
    if not text or not text.isalnum() or not text.isascii():
        raise ValueError("invalid base36")
    zeros = len(text) - len(text.lstrip("0"))
    n = int(text, 36)
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return b"\0" * zeros + body


def multibase_decode(text: str) -> bytes:
    """Decode the multibase encodings a CID realistically arrives in; ValueError otherwise."""
    if not text:
        raise ValueError("empty multibase string")
    prefix, body = text[0], text[1:]
    if prefix == "z":
        return b58decode(body)
    if prefix == "Z":
        return b58decode(body, _B58_FLICKR_INDEX)
    if prefix in "bB":
        if body != (body.lower() if prefix == "b" else body.upper()):
            raise ValueError("mixed-case base32")
        return _unpadded(base64.b32decode, body.upper(), 8)
    if prefix in "fF":
        if body != (body.lower() if prefix == "f" else body.upper()):
            raise ValueError("mixed-case base16")
        return bytes.fromhex(body)
    if prefix in "kK":
        return _base36_decode(body.lower())
    if prefix == "m":
        return _unpadded(lambda s: base64.b64decode(s, validate=True), body, 4)
    if prefix == "M":
        return base64.b64decode(body, validate=True)
    if prefix == "u":
        return _unpadded(base64.urlsafe_b64decode, _check_urlsafe(body), 4)
    if prefix == "U":
        stripped = body.rstrip("=")
        return base64.urlsafe_b64decode(_check_urlsafe(stripped) + body[len(stripped) :])
    raise ValueError(f"unknown multibase prefix {prefix!r}")


def _check_urlsafe(body: str) -> str:
    allowed = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    if not set(body) <= allowed:
        raise ValueError("invalid base64url character")
    return body


# --- CIDs ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cid:
    """A parsed CID. Equality and hashing follow the binary form."""

    version: int
    codec: int
    mh_code: int
    digest: bytes

    @classmethod
    def v1(cls, codec: int, digest: bytes) -> Cid:
        """CIDv1 over a sha2-256 digest (every CID Codex creates)."""
        return cls(1, codec, SHA2_256, digest)

    @cached_property
    def multihash(self) -> bytes:
        return varint.encode(self.mh_code) + varint.encode(len(self.digest)) + self.digest

    @cached_property
    def binary(self) -> bytes:
        if self.version == 0:
            return self.multihash
        return b"\x01" + varint.encode(self.codec) + self.multihash

    @cached_property
    def text(self) -> str:
        # nim-libp2p's `$`: CIDv0 is bare base58btc, CIDv1 multibase base58btc ('z').
        encoded = b58encode(self.binary)
        return encoded if self.version == 0 else "z" + encoded

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Cid({self.text!r})"

    @property
    def is_manifest(self) -> bool:
        return self.version == 1 and self.codec == MANIFEST_CODEC

    @property
    def is_block(self) -> bool:
        return self.version == 1 and self.codec == BLOCK_CODEC


def cid_from_bytes(data: bytes) -> Cid:
    """Decode a binary CID (v0: a bare sha2-256 multihash; v1: version ‖ codec ‖ multihash)."""
    view = memoryview(data)
    if len(data) == 34 and data[0] == SHA2_256 and data[1] == 32:
        return Cid(0, DAG_PB, SHA2_256, bytes(data[2:]))
    try:
        version, pos = varint.decode(view, 0)
        codec, pos = varint.decode(view, pos)
        mh_code, pos = varint.decode(view, pos)
        length, pos = varint.decode(view, pos)
    except ValueError as exc:
        raise InvalidCidError(f"malformed binary CID: {exc}") from None
    if version != 1:
        raise InvalidCidError(f"CID version {version} is not supported", UNSUPPORTED_CID)
    if codec not in KNOWN_CONTENT_CODECS:
        raise InvalidCidError(f"unknown content codec 0x{codec:x} in CID")
    if mh_code not in _MULTIHASH_LENGTHS:
        raise InvalidCidError(f"unknown multihash code 0x{mh_code:x} in CID")
    expected = _MULTIHASH_LENGTHS[mh_code]
    if (expected is not None and length != expected) or pos + length != len(data):
        raise InvalidCidError(
            f"CID digest length {length} does not match its multihash "
            f"(expected {expected}, {len(data) - pos} bytes present)"
        )
    return Cid(1, codec, mh_code, bytes(data[pos:]))


def parse_cid(text: str) -> Cid:
    """Parse a CID as the Codex node does: any CIDv0 (`Qm…`), any multibase CIDv1 whose codec is
    known. Raises InvalidCidError (its `reason` is the node's 400 body)."""
    if not isinstance(text, str):
        raise InvalidCidError(f"a CID must be a string, not {type(text).__name__}")
    if len(text) > 512:
        raise InvalidCidError(f"CID string of {len(text)} characters is too long")
    try:
        if len(text) == 46 and text.startswith("Qm"):
            raw = b58decode(text)
        else:
            raw = multibase_decode(text)
    except (ValueError, binascii.Error) as exc:
        raise InvalidCidError(f"{text!r} is not a CID: {exc}") from None
    try:
        return cid_from_bytes(raw)
    except InvalidCidError as exc:
        raise InvalidCidError(f"{text!r} is not a valid CID: {exc}", exc.reason) from None


def manifest_cid_for(encoded_manifest: bytes) -> Cid:
    return Cid.v1(MANIFEST_CODEC, hashlib.sha256(encoded_manifest).digest())


def block_cid_for_leaf(leaf: bytes) -> Cid:
    return Cid.v1(BLOCK_CODEC, leaf)


def tree_cid_for_root(root: bytes) -> Cid:
    return Cid.v1(TREE_CODEC, root)


# --- the CodexTree Merkle root -------------------------------------------------------------------


def _compress(left: bytes, right: bytes, key: bytes) -> bytes:
    return hashlib.sha256(left + right + key).digest()


class MerkleBuilder:
    """CodexTree root over leaves added one by one, in O(log n) memory.

    A pair at a layer is compressed as soon as it is complete (key 0x01 at the bottom, 0x00
    above); at the end every layer with an odd count compresses its last node with 32 zero bytes
    (0x03 at the bottom — even for a single leaf — and 0x02 above), bottom-up.
    """

    def __init__(self) -> None:
        self._pending: list[bytes | None] = []
        self.count = 0

    def add(self, leaf: bytes) -> None:
        if len(leaf) != DIGEST_LEN:
            raise ValueError("a leaf is a 32-byte SHA-256 digest")
        self.count += 1
        self._push(leaf, 0)

    def _push(self, node: bytes, level: int) -> None:
        pending = self._pending
        while True:
            if level == len(pending):
                pending.append(node)
                return
            left = pending[level]
            if left is None:
                pending[level] = node
                return
            pending[level] = None
            node = _compress(left, node, _KEY_BOTTOM if level == 0 else _KEY_NONE)
            level += 1

    def root(self) -> bytes:
        """The root; the builder is consumed."""
        if self.count == 0:
            raise ValueError("Empty leaves")
        size = self.count
        level = 0
        while True:
            if level > 0 and size == 1:
                node = self._pending[level]
                assert node is not None
                return node
            if size % 2:
                last = self._pending[level]
                assert last is not None
                self._pending[level] = None
                self._push(
                    _compress(last, _ZERO, _KEY_ODD_BOTTOM if level == 0 else _KEY_ODD), level + 1
                )
            size = (size + 1) // 2
            level += 1


def merkle_root(leaves: Iterable[bytes]) -> bytes:
    builder = MerkleBuilder()
    for leaf in leaves:
        builder.add(leaf)
    return builder.root()


# --- manifests -----------------------------------------------------------------------------------


class ManifestCoder(StrEnum):
    """How a node generation encodes manifests (logos-storage.md §2.4)."""

    CODEX = "codex"  # nim-codex v0.2.x (and Logos Storage until ~2026-01): 1:{1 tree … 8 fn, 9 mt}
    INTERIM = "storage-2026-01"  # Logos Storage, January 2026: 1:{1 tree … 7 fn, 8 mt}
    STORAGE = "storage"  # Logos Storage latest: envelope 1:{1 manifestVersion=0, 2 tree … 9 mt}


@dataclass(frozen=True)
class Manifest:
    """A decoded (or freshly built) Codex / Logos Storage manifest and its CID."""

    cid: Cid
    tree_cid: Cid
    dataset_size: int
    block_size: int
    filename: str | None
    mimetype: str | None
    encoded: bytes = field(repr=False)
    codec: int = BLOCK_CODEC
    hcodec: int = SHA2_256
    version: int = CID_V1_WIRE_VERSION
    protected: bool = False
    coder: ManifestCoder = ManifestCoder.CODEX
    uploaded_at: int | None = None

    @property
    def block_count(self) -> int:
        return -(-self.dataset_size // self.block_size)

    def to_json(self) -> dict[str, Any]:
        """The REST API's ManifestItem, keys in the node's order (Logos Storage: manifestVersion
        first, blockSize before datasetSize, no `protected`)."""
        if self.coder is not ManifestCoder.CODEX:
            item: dict[str, Any] = {}
            if self.coder is ManifestCoder.STORAGE:
                item["manifestVersion"] = 0
            item.update(
                treeCid=self.tree_cid.text,
                blockSize=self.block_size,
                datasetSize=self.dataset_size,
                filename=self.filename,
                mimetype=self.mimetype,
            )
            return item
        item = {
            "treeCid": self.tree_cid.text,
            "datasetSize": self.dataset_size,
            "blockSize": self.block_size,
            "filename": self.filename,
            "mimetype": self.mimetype,
            "protected": self.protected,
        }
        if self.uploaded_at is not None:
            item["uploadedAt"] = self.uploaded_at
        return item


def build_manifest(
    tree_cid: Cid,
    dataset_size: int,
    block_size: int = DEFAULT_BLOCK_SIZE,
    filename: str | None = None,
    mimetype: str | None = None,
    coder: ManifestCoder = ManifestCoder.CODEX,
    uploaded_at: int | None = None,
) -> Manifest:
    """The manifest of a plain (unprotected) dataset as `coder` encodes it (proto/
    archive_service_codex/codex_manifest.proto). `uploaded_at` (field 10) exists only in the
    Codex coder of some pre-v0.2.0 builds."""
    fn = filename.encode() if filename else None
    mt = mimetype.encode() if mimetype else None
    if coder is ManifestCoder.STORAGE:
        if uploaded_at is not None:
            raise ValueError("the latest Logos Storage coder has no uploadedAt field")
        inner = StorageManifest(
            manifest_version=0,
            tree_cid=tree_cid.binary,
            block_size=block_size,
            dataset_size=dataset_size,
            codec=BLOCK_CODEC,
            hcodec=SHA2_256,
            version=CID_V1_WIRE_VERSION,
            filename=fn,
            mimetype=mt,
        )
        encoded = StorageManifestEnvelope(manifest=inner.SerializeToString()).SerializeToString()
    else:
        header: ManifestHeader | InterimManifestHeader
        if coder is ManifestCoder.INTERIM:
            if uploaded_at is not None:
                raise ValueError("the January-2026 coder has no uploadedAt field")
            header = InterimManifestHeader(filename=fn, mimetype=mt)
        else:
            header = ManifestHeader(filename=fn, mimetype=mt, uploaded_at=uploaded_at)
        header.tree_cid = tree_cid.binary
        header.block_size = block_size
        header.dataset_size = dataset_size
        header.codec = BLOCK_CODEC
        header.hcodec = SHA2_256
        header.version = CID_V1_WIRE_VERSION
        encoded = CodexManifest(header=header.SerializeToString()).SerializeToString()
    return Manifest(
        cid=manifest_cid_for(encoded),
        tree_cid=tree_cid,
        dataset_size=dataset_size,
        block_size=block_size,
        filename=filename or None,
        mimetype=mimetype or None,
        encoded=encoded,
        coder=coder,
        uploaded_at=uploaded_at,
    )


def candidate_manifests(
    tree_cid: Cid,
    dataset_size: int,
    block_size: int,
    filename: str | None,
    mimetype: str | None,
    uploaded_at: int | None = None,
) -> list[Manifest]:
    """The manifest each coder builds from these fields (with `uploaded_at`: the Codex coder
    with field 10 instead of the plain Codex one). A node's manifest CID is genuine for these
    fields when one of them hashes to it (logos-storage.md §2.5)."""
    out = []
    for coder in ManifestCoder:
        at = uploaded_at if coder is ManifestCoder.CODEX else None
        out.append(
            build_manifest(tree_cid, dataset_size, block_size, filename, mimetype, coder, at)
        )
    return out


_HEADER_NUMBERS = (
    ("block_size", "blockSize", 2),
    ("dataset_size", "datasetSize", 3),
    ("codec", "codec", 4),
    ("hcodec", "hcodec", 5),
    ("version", "version", 6),
)


_STORAGE_NUMBERS = (
    ("block_size", "blockSize", 3),
    ("dataset_size", "datasetSize", 4),
    ("codec", "codec", 5),
    ("hcodec", "hcodec", 6),
    ("version", "version", 7),
)


def _text(header: ManifestHeader | StorageManifest, name: str) -> str | None:
    """A string field: absent or empty is None (the node's Option[string]); UnicodeDecodeError
    (a ValueError) when it is not UTF-8."""
    return getattr(header, name).decode("utf-8") or None


def _checked_manifest(
    message: ManifestHeader | StorageManifest,
    numbers: tuple[tuple[str, str, int], ...],
    tree_number: int,
    cid: Cid,
    data: bytes,
    **coder_fields: Any,
) -> Manifest:
    """The checks and fields both coders share (their field numbers differ). Raises ValueError
    or InvalidCidError for a missing or malformed field."""
    if not message.HasField("tree_cid"):
        raise ValueError(f"no tree CID (field {tree_number})")
    tree_cid = cid_from_bytes(message.tree_cid)
    for name, wire_name, number in numbers:
        if not message.HasField(name):
            raise ValueError(f"missing or malformed {wire_name} (field {number})")
    if message.block_size <= 0:
        raise ValueError("blockSize must be positive")
    return Manifest(
        cid=cid,
        tree_cid=tree_cid,
        dataset_size=message.dataset_size,
        block_size=message.block_size,
        filename=_text(message, "filename"),
        mimetype=_text(message, "mimetype"),
        encoded=data,
        codec=message.codec,
        hcodec=message.hcodec,
        version=message.version,
        **coder_fields,
    )


def decode_manifest(data: bytes, cid: Cid | None = None) -> Manifest:
    """Decode manifest bytes; with `cid`, also check they hash to it. Raises
    InvalidManifestError for anything that is not a Codex manifest."""
    computed = manifest_cid_for(data)
    if cid is not None and computed != cid:
        raise InvalidManifestError(f"manifest bytes do not hash to {cid}")
    try:
        outer = strictpb.parse(CodexManifest, data)
        if not outer.HasField("header"):
            raise ValueError("no header (field 1)")
        if outer.header[:1] == b"\x08":  # field 1 is a varint: the latest coder's manifestVersion
            return _decode_storage_manifest(outer.header, computed, bytes(data))
        header = strictpb.parse(ManifestHeader, outer.header)
        return _checked_manifest(
            header,
            _HEADER_NUMBERS,
            1,
            computed,
            bytes(data),
            protected=header.HasField("erasure"),
            uploaded_at=header.uploaded_at if header.HasField("uploaded_at") else None,
        )
    except (ValueError, InvalidCidError) as exc:
        raise InvalidManifestError(f"not a Codex manifest: {exc}") from None


def _decode_storage_manifest(inner: bytes, cid: Cid, data: bytes) -> Manifest:
    """The latest Logos Storage coder (StorageManifestEnvelope's field 1)."""
    try:
        m = strictpb.parse(StorageManifest, inner)
        if m.manifest_version != 0:
            raise ValueError(f"Unsupported manifest version: {m.manifest_version}")
        return _checked_manifest(m, _STORAGE_NUMBERS, 2, cid, data, coder=ManifestCoder.STORAGE)
    except (ValueError, InvalidCidError) as exc:
        raise InvalidManifestError(f"not a Logos Storage manifest: {exc}") from None


# --- streaming upload --------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    """One block: `data` is always `block_size` bytes (the last one zero-padded).

    When `update` was given immutable bytes, `data` is a read-only view into them (no copy:
    copying every block halves the hashing speed); otherwise it is a copy.
    """

    index: int
    data: bytes | memoryview = field(repr=False)
    leaf: bytes

    @property
    def cid(self) -> Cid:
        return block_cid_for_leaf(self.leaf)


class CidBuilder:
    """Incremental upload recipe: feed bytes with `update`, store the blocks it returns, call
    `close` for the padded last block, then `finish` for the manifest.

    >>> b = CidBuilder(); blocks = b.update(b"some file contents") + b.close()
    >>> str(b.finish().cid)
    'zDvZRwzm1ePSzKSXt57D5YxHwcSDmsCyYN65wW4HT7fuX9HrzFXy'
    """

    def __init__(self, block_size: int = DEFAULT_BLOCK_SIZE) -> None:
        if block_size <= 0:
            raise ValueError("block_size must be positive")
        self.block_size = block_size
        self._buf = bytearray()
        self._tree = MerkleBuilder()
        self._leaves: list[bytes] | None = None
        self.dataset_size = 0
        self._closed = False
        self._root: bytes | None = None

    @property
    def block_count(self) -> int:
        return self._tree.count

    def _emit(self, data: bytes | memoryview) -> Block:
        leaf = hashlib.sha256(data).digest()
        block = Block(self._tree.count, data, leaf)
        self._tree.add(leaf)
        return block

    def update(self, data: bytes | bytearray | memoryview) -> list[Block]:
        """Add bytes; returns the blocks completed by them (each exactly block_size bytes)."""
        if self._closed:
            raise ValueError("update() after close()")
        size = self.block_size
        self.dataset_size += len(data)
        out: list[Block] = []
        view = memoryview(data)
        if self._buf:
            take = min(size - len(self._buf), len(view))
            self._buf += view[:take]
            view = view[take:]
            if len(self._buf) < size:
                return out
            out.append(self._emit(bytes(self._buf)))
            self._buf.clear()
        whole = len(view) - len(view) % size
        # A view of immutable bytes stays valid; anything else might be reused by the caller.
        zero_copy = view.readonly
        for start in range(0, whole, size):
            piece = view[start : start + size]
            out.append(self._emit(piece if zero_copy else bytes(piece)))
        if whole < len(view):
            self._buf += view[whole:]
        return out

    def close(self) -> list[Block]:
        """Emit the zero-padded last block, if any. Raises InvalidInputError on no data."""
        if self._closed:
            return []
        self._closed = True
        out: list[Block] = []
        if self._buf:
            self._buf += bytes(self.block_size - len(self._buf))
            out.append(self._emit(bytes(self._buf)))
            self._buf = bytearray()
        if self._tree.count == 0:
            raise InvalidInputError("Empty leaves")
        self._root = self._tree.root()
        return out

    @property
    def root(self) -> bytes:
        if self._root is None:
            raise ValueError("root is known after close()")
        return self._root

    @property
    def tree_cid(self) -> Cid:
        return tree_cid_for_root(self.root)

    def finish(
        self,
        filename: str | None = None,
        mimetype: str | None = None,
        coder: ManifestCoder = ManifestCoder.CODEX,
        uploaded_at: int | None = None,
    ) -> Manifest:
        """The manifest (call after storing the blocks of `update`/`close`)."""
        if not self._closed:
            if self.close():
                raise ValueError("finish() before close() would drop the last block; call close()")
        return build_manifest(
            self.tree_cid,
            self.dataset_size,
            self.block_size,
            filename,
            mimetype,
            coder,
            uploaded_at,
        )


def compute_manifest(
    chunks: bytes | Iterable[bytes],
    filename: str | None = None,
    mimetype: str | None = None,
    block_size: int = DEFAULT_BLOCK_SIZE,
    coder: ManifestCoder = ManifestCoder.CODEX,
) -> Manifest:
    """The manifest (and so the CID) a node of `coder`'s generation returns for these bytes
    and headers."""
    builder = CidBuilder(block_size)
    for chunk in [chunks] if isinstance(chunks, bytes | bytearray | memoryview) else chunks:
        builder.update(chunk)
    builder.close()
    return builder.finish(filename, mimetype, coder)
