"""Malformed and malicious torrents, served over real ut_metadata by a plain libtorrent
session on 127.0.0.1, are rejected by a member with clear errors before anything is
downloaded: no `data` is created and the torrent leaves the session."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import libtorrent as lt
import pytest
from archive_service_torrent import bencode
from archive_service_torrent.layout import PIECE_LENGTH
from archive_service_torrent.magnet import format_magnet
from archive_service_torrent.metainfo import MalformedTorrentError, hash_pieces
from archive_service_torrent.session import session_settings
from archive_service_torrent.settings import TorrentSettings

from archive_service.errors import (
    ArchiveTimeoutError,
    InvalidLinkError,
    MalformedIndexError,
    SizeLimitError,
)
from archive_service.index import archive_id, encode_index, metadata_to_pb
from archive_service.interface import Timeouts
from archive_service.types import ArchiveMetadata
from archive_service.wire import pb

from .conftest import COMMUNITY, OTHER_COMMUNITY, T0, TOPICS, WEEK

NAME = "0x" + COMMUNITY.hex()
DATA = bytes(2 * PIECE_LENGTH)


class RawSeeder:
    """A plain libtorrent session that seeds whatever info dict it is given."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ses = lt.session(session_settings(TorrentSettings.loopback(), 0, fallback=True))

    def serve(self, info: bytes, files: dict[str, bytes] | None = None) -> str:
        """Seed `info` (with `files` on disk when given) and return a magnet with a hint."""
        save = self.root / f"seed{len(list(self.root.iterdir()))}"
        save.mkdir()
        for rel, content in (files or {}).items():
            path = save / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        atp = lt.add_torrent_params()
        atp.ti = lt.torrent_info(lt.bdecode(b"d4:info" + info + b"e"))
        atp.save_path = str(save)
        atp.flags = lt.torrent_flags.seed_mode if files else lt.torrent_flags.upload_mode
        self.ses.add_torrent(atp)
        return format_magnet(
            hashlib.sha1(info).digest(), "", peers=[("127.0.0.1", self.ses.listen_port())]
        )


@pytest.fixture
async def seeder(tmp_path: Path) -> AsyncIterator[RawSeeder]:
    root = tmp_path / "raw-seeder"
    root.mkdir()
    raw = RawSeeder(root)
    yield raw
    holder = [raw.ses]
    del raw.ses
    await asyncio.to_thread(holder.clear)  # the destructor blocks while threads stop


def info_dict(
    files: list[tuple[list[str], int]] | None = None,
    *,
    name: str = NAME,
    piece_length: int = PIECE_LENGTH,
    content: bytes | None = None,
) -> bytes:
    files = files if files is not None else [(["data"], len(DATA)), (["index"], 100)]
    total = sum(length for _, length in files)
    content = content if content is not None else bytes(total)
    return bencode.encode(
        {
            "files": [{"length": length, "path": path} for path, length in files],
            "name": name,
            "piece length": piece_length,
            "pieces": hash_pieces(content, piece_length),
        }
    )


CASES = {
    "dot-dot path": (info_dict([(["..", "data"], len(DATA)), (["index"], 100)]), "unsafe"),
    "absolute path": (info_dict([(["/etc", "data"], len(DATA)), (["index"], 100)]), "unsafe"),
    "nested path": (info_dict([(["sub", "data"], len(DATA)), (["index"], 100)]), "exactly"),
    "extra file": (
        info_dict([(["data"], len(DATA)), (["index"], 100), (["run.sh"], 10)]),
        "exactly",
    ),
    "no index": (info_dict([(["data"], len(DATA))]), "exactly"),
    "other community folder": (info_dict(name="0x" + OTHER_COMMUNITY.hex()), "this community"),
    "16 KiB pieces": (info_dict(piece_length=16384), "piece length is 16384"),
    "data not piece-aligned": (info_dict([(["data"], 150_000), (["index"], 100)]), "whole"),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_bad_layouts_are_rejected_before_download(make_side, seeder, case: str) -> None:
    info, message = CASES[case]
    member = await make_side("member")
    link = seeder.serve(info)
    with pytest.raises(MalformedTorrentError, match=message):
        await member.backend.download_history_archives(COMMUNITY, link, asyncio.Event())
    assert COMMUNITY not in member.backend._held  # dropped from the session
    assert not member.backend.paths(COMMUNITY).data.exists()
    assert not member.backend.paths(COMMUNITY).torrent.exists()
    assert member.store.downloaded_archives(COMMUNITY) == []


async def test_oversized_announced_lengths_are_refused(make_side, seeder) -> None:
    member = await make_side("member", max_data_bytes=10 * PIECE_LENGTH, max_index_bytes=1000)
    big_data = info_dict([(["data"], 20 * PIECE_LENGTH), (["index"], 100)])
    with pytest.raises(SizeLimitError, match="data"):
        await member.backend.download_history_archives(
            COMMUNITY, seeder.serve(big_data), asyncio.Event()
        )
    big_index = info_dict([(["data"], PIECE_LENGTH), (["index"], 5000)])
    with pytest.raises(SizeLimitError, match="index"):
        await member.backend.download_history_archives(
            COMMUNITY, seeder.serve(big_index), asyncio.Event()
        )
    assert not member.backend.paths(COMMUNITY).data.exists()


def _entry(
    offset: int, size: int, padding: int, week: int = 0
) -> pb.WakuMessageArchiveIndexMetadata:
    md = ArchiveMetadata(T0, T0 + WEEK, TOPICS)
    return pb.WakuMessageArchiveIndexMetadata(
        metadata=metadata_to_pb(md), offset=offset, size=size, padding=padding
    )


async def test_index_entries_beyond_the_data_file_are_rejected(make_side, seeder) -> None:
    """A well-formed torrent whose index points past its `data`: refused after the index,
    before any archive piece is requested."""
    entry = _entry(0, 4 * PIECE_LENGTH, 10)  # data holds only 2 pieces
    index = pb.WakuMessageArchiveIndex()
    index.archives[archive_id(entry)].CopyFrom(entry)
    index_bytes = encode_index(index, COMMUNITY, None)
    content = DATA + index_bytes
    info = info_dict([(["data"], len(DATA)), (["index"], len(index_bytes))], content=content)
    link = seeder.serve(info, {f"{NAME}/data": DATA, f"{NAME}/index": index_bytes})
    member = await make_side("member")
    with pytest.raises(MalformedIndexError, match="beyond"):
        await member.backend.download_history_archives(COMMUNITY, link, asyncio.Event())
    status = member.backend.torrent_status(COMMUNITY)
    assert status is not None and status.total_wanted_done <= len(index_bytes) + PIECE_LENGTH
    assert member.store.downloaded_archives(COMMUNITY) == []


async def test_link_of_another_community_is_refused_without_io(make_side) -> None:
    member = await make_side("member")
    link = format_magnet(b"\x11" * 20, "0x" + OTHER_COMMUNITY.hex())
    with pytest.raises(InvalidLinkError, match="another community"):
        await member.backend.download_history_archives(COMMUNITY, link, asyncio.Event())
    with pytest.raises(InvalidLinkError):
        await member.backend.download_history_archives(COMMUNITY, "magnet:?xt=bad", asyncio.Event())


async def test_metadata_timeout_raises_and_leaves_nothing_behind(make_side) -> None:
    member = await make_side("member", timeouts=Timeouts(index=0.5, archive=5, download=10))
    link = format_magnet(b"\x22" * 20, NAME)  # nobody has it
    with pytest.raises(ArchiveTimeoutError, match=r"timeouts\.index"):
        await member.backend.download_history_archives(COMMUNITY, link, asyncio.Event())
    assert COMMUNITY not in member.backend._held


async def test_cancel_while_waiting_for_metadata(make_side) -> None:
    member = await make_side("member")
    link = format_magnet(b"\x33" * 20, NAME)
    cancel = asyncio.Event()
    asyncio.get_running_loop().call_later(0.2, cancel.set)
    info = await member.backend.download_history_archives(COMMUNITY, link, cancel)
    assert info.cancelled and info.total_downloaded == 0
