"""Sample archive indexes of both kinds, as status-go lays them out, for the index tests of
the core and of each backend."""

from __future__ import annotations

from archive_service.index import archive_id, metadata_to_pb
from archive_service.types import ArchiveMetadata
from archive_service.wire import pb

COMMUNITY = bytes.fromhex("03" + "22" * 32)
T1, T2 = b"\x01\x02\x03\x04", b"\xaa\xbb\xcc\xdd"
PIECE = 102400
WEEK = 7 * 86400
START = 1577836800


def md(i: int) -> ArchiveMetadata:
    return ArchiveMetadata(from_ts=START + i * WEEK, to_ts=START + (i + 1) * WEEK, topics=(T1, T2))


def torrent_index(n: int = 3) -> pb.WakuMessageArchiveIndex:
    """n archives laid out as status-go does: each padded to whole pieces, back to back."""
    index = pb.WakuMessageArchiveIndex()
    offset = 0
    for i in range(n):
        raw = 1000 * (i + 1)
        entry = pb.WakuMessageArchiveIndexMetadata(
            metadata=metadata_to_pb(md(i)), offset=offset, size=PIECE, padding=PIECE - raw
        )
        index.archives[archive_id(entry)].CopyFrom(entry)
        offset += PIECE
    return index


def codex_index(n: int = 3) -> pb.CodexWakuMessageArchiveIndex:
    index = pb.CodexWakuMessageArchiveIndex()
    for i in range(n):
        entry = pb.CodexWakuMessageArchiveIndexMetadata(
            metadata=metadata_to_pb(md(i)), cid=f"zDvZRwzm{i:040d}"
        )
        index.archives[archive_id(entry)].CopyFrom(entry)
    return index
