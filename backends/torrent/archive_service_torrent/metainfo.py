"""The v1 metainfo of a history-archive torrent, exactly as anacrolix `BuildFromFilePath`
builds it (reference §5.4, libtorrent.md §3), and strict validation of metainfo from peers.

libtorrent cannot create torrents with 102,400-byte pieces, so we write the info dict
ourselves: `{files: [{length, path}], name, piece length, pieces}` with files sorted by the
bytes of their path (`data` before `index`), SHA-1 pieces over the concatenation, no pad
files, no mtime. Keys outside `info` (announce-list, created by, creation date) do not affect
the info-hash.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from archive_service.errors import InvalidInputError, SizeLimitError
from archive_service_torrent import bencode
from archive_service_torrent.layout import DATA_FILE, INDEX_FILE, PIECE_LENGTH

HASH_LEN = 20


class MalformedTorrentError(InvalidInputError):
    """Metainfo that is not a status-go history-archive torrent, or is unsafe to download."""


@dataclass(frozen=True)
class FileEntry:
    path: tuple[str, ...]
    length: int


@dataclass(frozen=True)
class InfoDict:
    name: str
    piece_length: int
    files: tuple[FileEntry, ...]
    pieces: bytes  # concatenated 20-byte SHA-1 digests

    def encode(self) -> bytes:
        files = [{"length": f.length, "path": list(f.path)} for f in self.files]
        return bencode.encode(
            {
                "files": files,
                "name": self.name,
                "piece length": self.piece_length,
                "pieces": self.pieces,
            }
        )

    @property
    def info_hash(self) -> bytes:
        return hashlib.sha1(self.encode()).digest()

    @property
    def num_pieces(self) -> int:
        return len(self.pieces) // HASH_LEN

    @property
    def total_length(self) -> int:
        return sum(f.length for f in self.files)

    def piece_hash(self, index: int) -> bytes:
        return self.pieces[index * HASH_LEN : (index + 1) * HASH_LEN]

    def file_length(self, name: str) -> int:
        for f in self.files:
            if f.path == (name,):
                return f.length
        raise KeyError(name)


@dataclass(frozen=True)
class Metainfo:
    info: InfoDict
    info_bytes: bytes  # the exact bencoded info dict (its SHA-1 is the info-hash)
    announce_list: tuple[tuple[str, ...], ...] = ()
    created_by: str = ""
    creation_date: int = 0

    @property
    def info_hash(self) -> bytes:
        return hashlib.sha1(self.info_bytes).digest()

    def trackers(self) -> list[str]:
        """Distinct announce URLs in announce-list order (anacrolix DistinctValues)."""
        seen: list[str] = []
        for tier in self.announce_list:
            for url in tier:
                if url not in seen:
                    seen.append(url)
        return seen

    def encode(self) -> bytes:
        top: dict[str, object] = {}
        trackers = self.trackers()
        if trackers:
            # Not in anacrolix's output, which has announce-list only: clients that read only
            # `announce` (ctorrent) refuse a torrent without it. Outside `info`: same info-hash.
            top["announce"] = trackers[0]
        if self.announce_list:
            top["announce-list"] = [list(tier) for tier in self.announce_list]
        if self.created_by:
            top["created by"] = self.created_by
        if self.creation_date:
            top["creation date"] = self.creation_date
        # The info dict is spliced in verbatim so the info-hash stays exactly what we hashed.
        encoded = bencode.encode(top)
        return encoded[:-1] + b"4:info" + self.info_bytes + b"e"


# --- hashing -------------------------------------------------------------------------------


class PieceHasher:
    """SHA-1 of consecutive `PIECE_LENGTH` chunks of a byte stream, fed in any slices."""

    def __init__(self, piece_length: int = PIECE_LENGTH) -> None:
        self.piece_length = piece_length
        self._digests: list[bytes] = []
        self._current = hashlib.sha1()
        self._filled = 0
        self.total = 0

    def update(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        self.total += len(view)
        while view:
            take = min(len(view), self.piece_length - self._filled)
            self._current.update(view[:take])
            self._filled += take
            view = view[take:]
            if self._filled == self.piece_length:
                self._digests.append(self._current.digest())
                self._current = hashlib.sha1()
                self._filled = 0

    def update_zeros(self, count: int) -> None:
        zeros = bytes(min(count, self.piece_length))
        while count:
            take = min(count, len(zeros))
            self.update(zeros[:take])
            count -= take

    @property
    def aligned(self) -> bool:
        return self._filled == 0

    def digests(self) -> bytes:
        """All complete pieces so far, plus the short last piece if any (and finishes it)."""
        if self._filled:
            self._digests.append(self._current.digest())
            self._current = hashlib.sha1()
            self._filled = 0
        return b"".join(self._digests)


def hash_pieces(data: bytes | memoryview, piece_length: int = PIECE_LENGTH) -> bytes:
    hasher = PieceHasher(piece_length)
    hasher.update(data)
    return hasher.digests()


# --- building ------------------------------------------------------------------------------


def build_info(
    name: str, files: Iterable[tuple[str, int]], pieces: bytes, piece_length: int = PIECE_LENGTH
) -> InfoDict:
    """An anacrolix-style info dict; `files` are (name, length) and get sorted by path bytes."""
    entries = tuple(
        FileEntry(path=(fname,), length=length)
        for fname, length in sorted(files, key=lambda f: f[0].encode())
    )
    info = InfoDict(name=name, piece_length=piece_length, files=entries, pieces=pieces)
    expected = -(-info.total_length // piece_length)
    if info.num_pieces != expected or len(pieces) % HASH_LEN:
        raise ValueError(
            f"{len(pieces)} bytes of piece hashes for {info.total_length} bytes of content; "
            f"expected {expected} pieces"
        )
    return info


def build_metainfo(
    info: InfoDict,
    announce: Sequence[str],
    created_by: str,
    creation_date: int | None = None,
) -> Metainfo:
    """status-go's metainfo: one tracker per tier, `created by` the owner's public key."""
    return Metainfo(
        info=info,
        info_bytes=info.encode(),
        announce_list=tuple((url,) for url in announce),
        created_by=created_by,
        creation_date=int(time.time()) if creation_date is None else creation_date,
    )


# --- parsing and validation ----------------------------------------------------------------


def parse_metainfo(data: bytes) -> Metainfo:
    """Parse a .torrent file (ours, or written by status-go) and validate its info dict."""
    try:
        top, end = bencode.decode_prefix(data)
    except bencode.BencodeError as exc:
        raise MalformedTorrentError(f"torrent file is not bencode: {exc}") from None
    if end != len(data) or not isinstance(top, dict):
        raise MalformedTorrentError("torrent file is not one bencoded dictionary")
    raw_info = top.get(b"info")
    if not isinstance(raw_info, dict):
        raise MalformedTorrentError("torrent file has no info dictionary")
    info_bytes = _raw_value(data, b"info")
    info = parse_info(info_bytes)
    announce: list[tuple[str, ...]] = []
    raw_list = top.get(b"announce-list", [])
    if isinstance(raw_list, list):
        for tier in raw_list:
            if isinstance(tier, list):
                urls = tuple(u.decode("utf-8", "replace") for u in tier if isinstance(u, bytes))
                if urls:
                    announce.append(urls)
    single = top.get(b"announce")
    if not announce and isinstance(single, bytes) and single:
        announce.append((single.decode("utf-8", "replace"),))
    created_by = top.get(b"created by", b"")
    creation_date = top.get(b"creation date", 0)
    return Metainfo(
        info=info,
        info_bytes=info_bytes,
        announce_list=tuple(announce),
        created_by=created_by.decode("utf-8", "replace") if isinstance(created_by, bytes) else "",
        creation_date=creation_date if isinstance(creation_date, int) else 0,
    )


def _raw_value(data: bytes, wanted: bytes) -> bytes:
    """The exact bytes of top-level key `wanted` (re-encoding could change the info-hash)."""
    pos = 1
    while pos < len(data) and data[pos] != ord("e"):
        key, pos = bencode.decode_prefix(data, pos)
        start = pos
        _, pos = bencode.decode_prefix(data, pos)
        if key == wanted:
            return data[start:pos]
    raise MalformedTorrentError(f"torrent file has no {wanted.decode()!r} key")


def parse_info(info_bytes: bytes) -> InfoDict:
    """Decode an info dict and check it is well formed: v1, multi-file, consistent pieces,
    safe paths. Layout rules specific to history archives are in `check_archive_layout`."""
    try:
        raw = bencode.decode(info_bytes)
    except bencode.BencodeError as exc:
        raise MalformedTorrentError(f"torrent info dictionary is not bencode: {exc}") from None
    if not isinstance(raw, dict):
        raise MalformedTorrentError("torrent info is not a dictionary")
    name = _text(raw.get(b"name"), "info.name")
    piece_length = raw.get(b"piece length")
    if not isinstance(piece_length, int) or piece_length <= 0:
        raise MalformedTorrentError(f"torrent piece length {piece_length!r} is not positive")
    pieces = raw.get(b"pieces")
    if not isinstance(pieces, bytes) or len(pieces) % HASH_LEN:
        raise MalformedTorrentError("torrent pieces are not a multiple of 20-byte SHA-1 hashes")
    if b"length" in raw or b"files" not in raw:
        raise MalformedTorrentError(
            "torrent is a single-file torrent; a history archive has a folder with "
            "`data` and `index`"
        )
    if b"file tree" in raw or b"meta version" in raw:
        raise MalformedTorrentError("torrent is a BitTorrent v2/hybrid torrent; expected v1 only")
    raw_files = raw[b"files"]
    if not isinstance(raw_files, list):
        raise MalformedTorrentError("torrent info.files is not a list")
    files = []
    for i, raw_file in enumerate(raw_files):
        if not isinstance(raw_file, dict):
            raise MalformedTorrentError(f"torrent file entry {i} is not a dictionary")
        length = raw_file.get(b"length")
        if not isinstance(length, int) or length < 0:
            raise MalformedTorrentError(f"torrent file entry {i} has an invalid length {length!r}")
        path = raw_file.get(b"path")
        if not isinstance(path, list) or not path:
            raise MalformedTorrentError(f"torrent file entry {i} has no path")
        parts = tuple(_text(p, f"info.files[{i}].path") for p in path)
        for part in parts:
            _check_component(part, f"file path {'/'.join(parts)!r}")
        if raw_file.get(b"attr"):
            raise MalformedTorrentError(f"torrent file {'/'.join(parts)!r} has attributes (pad?)")
        files.append(FileEntry(path=parts, length=length))
    _check_component(name, "torrent name")
    info = InfoDict(name=name, piece_length=piece_length, files=tuple(files), pieces=pieces)
    expected = -(-info.total_length // piece_length)
    if info.num_pieces != expected:
        raise MalformedTorrentError(
            f"torrent has {info.num_pieces} piece hashes for {info.total_length} bytes at "
            f"piece length {piece_length}; expected {expected}"
        )
    return info


def _text(value: object, what: str) -> str:
    if not isinstance(value, bytes):
        raise MalformedTorrentError(f"torrent {what} is missing or not a string")
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedTorrentError(f"torrent {what} is not UTF-8") from None


def _check_component(part: str, what: str) -> None:
    if part in ("", ".", "..") or "/" in part or "\\" in part or "\x00" in part:
        raise MalformedTorrentError(f"unsafe {what}: component {part!r} is not a plain name")


def check_archive_layout(
    info: InfoDict, expected_name: str, *, max_index: int, max_data: int
) -> tuple[int, int]:
    """Reject anything but status-go's layout: folder `expected_name` with exactly `data` and
    `index`, 102,400-byte pieces, a piece-aligned `data`, lengths within the caps. Returns
    (data length, index length). Runs before anything is downloaded or allocated."""
    if info.name != expected_name:
        raise MalformedTorrentError(
            f"torrent folder is {info.name!r}; this community's archives are in {expected_name!r}"
        )
    names = sorted("/".join(f.path) for f in info.files)
    if names != [DATA_FILE, INDEX_FILE]:
        raise MalformedTorrentError(
            f"torrent holds files {names}; a history-archive torrent holds exactly "
            f"{DATA_FILE!r} and {INDEX_FILE!r}"
        )
    if [f.path for f in info.files] != [(DATA_FILE,), (INDEX_FILE,)]:
        raise MalformedTorrentError("torrent lists `index` before `data` (not anacrolix order)")
    if info.piece_length != PIECE_LENGTH:
        raise MalformedTorrentError(
            f"torrent piece length is {info.piece_length}; status-go archives use {PIECE_LENGTH}"
        )
    data_len = info.file_length(DATA_FILE)
    index_len = info.file_length(INDEX_FILE)
    if data_len % PIECE_LENGTH:
        raise MalformedTorrentError(
            f"torrent data is {data_len} bytes, not a whole number of {PIECE_LENGTH}-byte pieces"
        )
    if index_len == 0:
        raise MalformedTorrentError("torrent index file is empty")
    if index_len > max_index:
        raise SizeLimitError(
            f"torrent index is {index_len} bytes, over the {max_index}-byte cap "
            "(backend.torrent.max_index_bytes)"
        )
    if data_len > max_data:
        raise SizeLimitError(
            f"torrent data is {data_len} bytes, over the {max_data}-byte cap "
            "(backend.torrent.max_data_bytes)"
        )
    return data_len, index_len
