"""The owner's published history on disk, loaded and checked before a new week is appended.

What is trusted and what is checked:
* `index` says which bytes of `data` are published. `data` longer than that is the tail of a
  run that crashed between appending and rewriting the index: it is cut back (the repair).
  `data` shorter than that lost published archives: reported, never papered over.
* Piece hashes of published data are reused from the last `.torrent` (data is append-only and
  piece-aligned, so they never change): creating week N+1 hashes only week N+1 and the index.
  The reuse is spot-checked against the disk (first, last and one random reused piece); a
  mismatch means the published bytes changed and is reported. A missing or unusable
  `.torrent`, or one older than the index, just costs hashing the rest.
Corruption in the middle of old data that the spot check misses is caught by libtorrent's full
check when the torrent is re-seeded at start (and by seed-mode verification when a peer asks
for a piece).
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from pathlib import Path

from archive_service.crypto.hashratchet import HashRatchet
from archive_service.errors import BackendError, InvalidInputError
from archive_service.wire import pb
from archive_service_torrent.index import decode_torrent_index
from archive_service_torrent.layout import PIECE_LENGTH, CommunityPaths, file_size, truncate
from archive_service_torrent.metainfo import (
    HASH_LEN,
    PieceHasher,
    check_archive_layout,
    parse_metainfo,
)

log = logging.getLogger(__name__)

HASH_CHUNK = 16 * PIECE_LENGTH  # read size when hashing existing data


class DataCorruptedError(BackendError):
    """Published archive bytes on disk are missing or differ from what was published."""


@dataclass
class OwnerState:
    index: pb.WakuMessageArchiveIndex
    data_length: int  # bytes of `data` the index covers (= where the next archive goes)
    data_pieces: bytearray  # SHA-1 of every piece of those bytes
    previous_index: bytes | None  # file contents before this run, to restore on abort
    previous_torrent: bytes | None
    hashed_bytes: int = 0  # bytes of existing data that had to be re-hashed (0 when cached)
    repairs: list[str] = field(default_factory=list)


def load_owner_state(
    paths: CommunityPaths,
    community_id: bytes,
    crypto: HashRatchet | None,
    *,
    max_index_bytes: int,
    max_torrent_bytes: int,
) -> OwnerState:
    """Blocking (file I/O and hashing): run it in a worker thread."""
    previous_index = _read_capped(paths.index, max_index_bytes, "index")
    index = pb.WakuMessageArchiveIndex()
    if previous_index is not None:
        try:
            index = decode_torrent_index(previous_index, community_id, crypto)
        except InvalidInputError as exc:
            raise type(exc)(f"the published index {paths.index} cannot be read: {exc}") from None
    expected = _covered_length(index, paths)
    repairs: list[str] = []

    actual = file_size(paths.data)
    if actual > expected:
        # A crash between appending archives and writing the index: nobody was told about
        # these bytes, so cutting them restores exactly the published state.
        truncate(paths.data, expected)
        repairs.append(f"cut {actual - expected} unpublished bytes from {paths.data}")
        log.warning("%s: %s", paths.name, repairs[-1])
    elif actual < expected:
        raise DataCorruptedError(
            f"{paths.data} holds {actual} bytes but its index publishes {expected}: published "
            "archives are missing. Restore the file from a backup (or from a member that "
            f"downloaded them), or move {paths.root} away to start a new history"
        )

    previous_torrent = _read_capped(paths.torrent, max_torrent_bytes, "torrent")
    cached = _cached_pieces(paths, previous_torrent, expected)
    if cached:
        _spot_check(paths, cached)
    hasher = PieceHasher()
    start = len(cached) // HASH_LEN * PIECE_LENGTH
    if start < expected:
        with paths.data.open("rb") as f:
            f.seek(start)
            remaining = expected - start
            while remaining:
                chunk = f.read(min(HASH_CHUNK, remaining))
                if not chunk:
                    raise DataCorruptedError(f"{paths.data} shrank while it was being hashed")
                hasher.update(chunk)
                remaining -= len(chunk)
    pieces = bytearray(cached)
    pieces += hasher.digests()
    return OwnerState(
        index=index,
        data_length=expected,
        data_pieces=pieces,
        previous_index=previous_index,
        previous_torrent=previous_torrent,
        hashed_bytes=expected - start,
        repairs=repairs,
    )


def _read_capped(path: Path, cap: int, what: str) -> bytes | None:
    if not path.exists():
        return None
    size = file_size(path)
    if size > cap:
        raise DataCorruptedError(f"{what} file {path} is {size} bytes, over the {cap}-byte cap")
    return path.read_bytes()


def _covered_length(index: pb.WakuMessageArchiveIndex, paths: CommunityPaths) -> int:
    """Bytes of `data` the index publishes. status-go appends at Σ size, so the entries must
    tile [0, Σ size) in whole pieces; anything else is not an index we can append to."""
    total = 0
    end = 0
    for key, entry in index.archives.items():
        if entry.offset % PIECE_LENGTH or entry.size % PIECE_LENGTH:
            raise DataCorruptedError(
                f"index {paths.index} entry {key} is not piece-aligned "
                f"(offset {entry.offset}, size {entry.size})"
            )
        total += entry.size
        end = max(end, entry.offset + entry.size)
    if total != end:
        raise DataCorruptedError(
            f"index {paths.index} entries do not tile the data file (sizes add up to {total}, "
            f"the last ends at {end}); it cannot be appended to"
        )
    return total


def _cached_pieces(paths: CommunityPaths, torrent: bytes | None, expected: int) -> bytes:
    """Piece hashes of `data` from the last .torrent, if it describes a prefix of it."""
    if torrent is None:
        return b""
    try:
        meta = parse_metainfo(torrent)
        data_len, _ = check_archive_layout(
            meta.info, paths.name, max_index=1 << 62, max_data=1 << 62
        )
    except InvalidInputError as exc:
        log.warning("%s: not reusing piece hashes of %s: %s", paths.name, paths.torrent, exc)
        return b""
    if data_len > expected:
        log.warning(
            "%s: %s describes %d data bytes, more than the index publishes (%d); re-hashing",
            paths.name,
            paths.torrent,
            data_len,
            expected,
        )
        return b""
    return meta.info.pieces[: data_len // PIECE_LENGTH * HASH_LEN]


def _spot_check(paths: CommunityPaths, cached: bytes) -> None:
    count = len(cached) // HASH_LEN
    samples = sorted({0, count - 1, random.randrange(count)})
    with paths.data.open("rb") as f:
        for piece in samples:
            f.seek(piece * PIECE_LENGTH)
            hasher = PieceHasher()
            hasher.update(f.read(PIECE_LENGTH))
            if hasher.digests() != cached[piece * HASH_LEN : (piece + 1) * HASH_LEN]:
                raise DataCorruptedError(
                    f"{paths.data} piece {piece} (bytes {piece * PIECE_LENGTH}–"
                    f"{(piece + 1) * PIECE_LENGTH}) differs from the published torrent "
                    f"{paths.torrent}: published archive bytes were modified or corrupted. "
                    "Restore the file from a backup; or seed the existing torrent so libtorrent "
                    "re-downloads the bad pieces from members; or move "
                    f"{paths.root} away to start a new history"
                )
