"""Layout, padding, bencode and the anacrolix-equivalent metainfo (no network)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import libtorrent as lt
import pytest
from archive_service_torrent import bencode
from archive_service_torrent.layout import (
    PIECE_LENGTH,
    CommunityPaths,
    padded_size,
    piece_range,
)
from archive_service_torrent.metainfo import (
    MalformedTorrentError,
    PieceHasher,
    build_info,
    build_metainfo,
    check_archive_layout,
    hash_pieces,
    parse_info,
    parse_metainfo,
)

from archive_service.errors import InvalidInputError, SizeLimitError

from .conftest import COMMUNITY

NAME = "0x" + COMMUNITY.hex()


# padding (reference §5.3, including the exact-multiple quirk §11.2) -------------------------
@pytest.mark.parametrize(
    ("raw", "size", "padding"),
    [
        (1, 102400, 102399),
        (1000, 102400, 101400),
        (102399, 102400, 1),
        (102400, 102400, 0),  # exactly one piece: no padding
        (102401, 204800, 102399),
        (204799, 204800, 1),
        (204800, 307200, 102400),  # status-go quirk: a whole extra piece of zeros
        (307200, 409600, 102400),
        (30_000_000, 30_003_200, 3200),
    ],
)
def test_padding_rule_matches_status_go(raw: int, size: int, padding: int) -> None:
    assert padded_size(raw) == (size, padding)
    assert size % PIECE_LENGTH == 0 and size - padding == raw


def test_piece_range_of_aligned_archives() -> None:
    assert piece_range(0, 102400) == range(0, 1)
    assert piece_range(307200, 307200) == range(3, 6)


def test_paths_follow_status_go() -> None:
    paths = CommunityPaths.of(Path("/d"), Path("/t"), COMMUNITY)
    assert paths.name == NAME and len(NAME) == 68
    assert paths.index == Path(f"/d/{NAME}/index")
    assert paths.data == Path(f"/d/{NAME}/data")
    assert paths.torrent == Path(f"/t/{NAME}.torrent")


# bencode ------------------------------------------------------------------------------------
def test_bencode_round_trip_and_key_order() -> None:
    value = {"b": [1, -2, b"x"], "a": {"z": 0, "y": b""}}
    encoded = bencode.encode(value)
    assert encoded == b"d1:ad1:y0:1:zi0ee1:bli1ei-2e1:xee"
    assert bencode.decode(encoded) == {b"a": {b"y": b"", b"z": 0}, b"b": [1, -2, b"x"]}


@pytest.mark.parametrize(
    "bad",
    [
        b"i03e",  # leading zero
        b"i-0e",
        b"ie",
        b"d1:bi1e1:ai2ee",  # unsorted keys
        b"d1:ai1e1:ai2ee",  # repeated key
        b"5:abc",  # length beyond the end
        b"i1ei2e",  # trailing data
        b"l" * 40 + b"e" * 40,  # too deep
        b"x",
        b"d",
        b"03:abc",
    ],
)
def test_bencode_rejects_non_canonical_input(bad: bytes) -> None:
    with pytest.raises(bencode.BencodeError):
        bencode.decode(bad)


# the info dict --------------------------------------------------------------------------------
def _fixed_folder() -> tuple[bytes, bytes]:
    data = bytes(range(256)) * 800  # 204800 bytes = 2 pieces
    index = b"fixed index bytes" * 10
    return data, index


def _hand_bencoded_info(data: bytes, index: bytes, piece_length: int) -> bytes:
    """The info dict written out by hand, as anacrolix BuildFromFilePath encodes it."""
    content = data + index
    pieces = b"".join(
        hashlib.sha1(content[i : i + piece_length]).digest()
        for i in range(0, len(content), piece_length)
    )
    name = NAME.encode()
    return (
        b"d5:filesl"
        + b"d6:lengthi%de4:pathl4:dataee" % len(data)
        + b"d6:lengthi%de4:pathl5:indexee" % len(index)
        + b"e4:name%d:" % len(name)
        + name
        + b"12:piece lengthi%de" % piece_length
        + b"6:pieces%d:" % len(pieces)
        + pieces
        + b"e"
    )


PINNED_INFO_HASH = "09e4162b325668bad8afb5d27f7a1354ded68cad"


def test_info_hash_pinned_and_computed_independently() -> None:
    data, index = _fixed_folder()
    pieces = hash_pieces(data + index)
    info = build_info(NAME, [("index", len(index)), ("data", len(data))], pieces)
    by_hand = _hand_bencoded_info(data, index, PIECE_LENGTH)
    assert info.encode() == by_hand
    assert info.info_hash == hashlib.sha1(by_hand).digest()
    assert info.info_hash.hex() == PINNED_INFO_HASH
    assert [f.path for f in info.files] == [("data",), ("index",)]  # sorted by path bytes


def test_libtorrent_loads_our_102400_piece_torrent() -> None:
    data, index = _fixed_folder()
    info = build_info(NAME, [("data", len(data)), ("index", len(index))], hash_pieces(data + index))
    meta = build_metainfo(info, ["udp://tracker.example:1337/announce"], "0x04ab", 1_700_000_000)
    ti = lt.torrent_info(lt.bdecode(meta.encode()))
    assert str(ti.info_hashes().v1) == info.info_hash.hex()
    assert ti.piece_length() == PIECE_LENGTH and ti.num_pieces() == 3
    files = ti.layout()
    assert [files.file_name(i) for i in range(2)] == ["data", "index"]
    assert [files.file_offset(i) for i in range(2)] == [0, len(data)]  # data at byte 0
    assert ti.creator() == "0x04ab" and ti.creation_date() == 1_700_000_000
    assert lt.load_torrent_buffer(meta.encode()).trackers == ["udp://tracker.example:1337/announce"]
    # Our parser reads back exactly what we wrote, and the info bytes are spliced verbatim.
    parsed = parse_metainfo(meta.encode())
    assert parsed.info == info and parsed.info_bytes == info.encode()
    assert parsed.trackers() == ["udp://tracker.example:1337/announce"]


def test_torrent_names_its_first_tracker_in_announce_too() -> None:
    """Clients that read only `announce` (ctorrent) refuse a torrent that has only
    announce-list; the key sits outside `info`, so the info-hash does not move."""
    data, index = _fixed_folder()
    info = build_info(NAME, [("data", len(data)), ("index", len(index))], hash_pieces(data + index))
    trackers = ["udp://a.example:1/announce", "udp://b.example:2/announce"]
    top = lt.bdecode(build_metainfo(info, trackers, "0x04ab", 1).encode())
    assert top[b"announce"] == trackers[0].encode()
    assert top[b"announce-list"] == [[t.encode()] for t in trackers]
    assert b"announce" not in lt.bdecode(build_metainfo(info, [], "0x04ab", 1).encode())
    only_announce = lt.bencode(
        {b"announce": trackers[1].encode(), b"info": lt.bdecode(info.encode())}
    )
    parsed = parse_metainfo(only_announce)
    assert parsed.trackers() == [trackers[1]] and parsed.info_hash == info.info_hash


def test_same_hash_as_libtorrent_create_torrent_where_it_can_create(tmp_path: Path) -> None:
    """At a piece size libtorrent accepts (131072), its v1-only creator over byte-sorted files
    gives the same info-hash as our builder (libtorrent.md §3): an independent check."""
    folder = tmp_path / NAME
    folder.mkdir()
    data, index = _fixed_folder()
    (folder / "data").write_bytes(data)
    (folder / "index").write_bytes(index)
    files = sorted(lt.list_files(str(folder)), key=lambda e: e.filename.encode())
    ct = lt.create_torrent(files, 131072, lt.create_torrent.v1_only)
    lt.set_piece_hashes(ct, str(tmp_path))
    theirs = lt.torrent_info(ct.generate())
    ours = build_info(
        NAME,
        [("data", len(data)), ("index", len(index))],
        hash_pieces(data + index, 131072),
        131072,
    )
    assert str(theirs.info_hashes().v1) == ours.info_hash.hex()


def test_piece_hasher_accepts_any_slicing() -> None:
    blob = bytes(range(251)) * 2000
    hasher = PieceHasher()
    for i in range(0, len(blob), 7777):
        hasher.update(blob[i : i + 7777])
    assert hasher.digests() == hash_pieces(blob)
    zeros = PieceHasher()
    zeros.update_zeros(250_000)
    assert zeros.digests() == hash_pieces(bytes(250_000))


# validation of metadata from peers --------------------------------------------------------------
def _files(*entries: tuple[object, ...]) -> dict[str, object]:
    """An info dict's "files" from (length, *path) entries."""
    return {"files": [{"length": length, "path": list(path)} for length, *path in entries]}


def _info(**changes: object) -> bytes:
    data, index = _fixed_folder()
    raw: dict[str, object] = {
        **_files((len(data), "data"), (len(index), "index")),
        "name": NAME,
        "piece length": PIECE_LENGTH,
        "pieces": hash_pieces(data + index),
    }
    raw.update(changes)
    return bencode.encode(raw)


def _layout(info_bytes: bytes, **caps: int) -> tuple[int, int]:
    info = parse_info(info_bytes)
    return check_archive_layout(
        info, NAME, max_index=caps.get("max_index", 1 << 20), max_data=caps.get("max_data", 1 << 30)
    )


def test_valid_layout_passes() -> None:
    assert _layout(_info()) == (204800, 170)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (_files((204800, "..", "data"), (170, "index")), "unsafe"),
        (_files((204800, "/etc", "data"), (170, "index")), "unsafe"),
        (_files((204800, "data"), (170, "")), "unsafe"),
        ({"name": ".."}, "unsafe"),
        ({"name": "0x" + "02" + "11" * 32}, "this community"),
        (_files((204800, "data"), (100, "index"), (70, "zzz")), "exactly"),
        (_files((204800, "sub", "data"), (170, "index")), "exactly"),
        (_files((204800, "index"), (170, "data")), "data"),
        (_files((204870, "data"), (100, "index")), "whole number"),
        (_files((204800, "data"), (0, "index")), "piece hashes|empty"),
        (_files((-1, "data"), (170, "index")), "length"),
        (
            {
                "files": [
                    {"length": 204800, "path": ["data"], "attr": b"p"},
                    {"length": 170, "path": ["index"]},
                ]
            },
            "attributes",
        ),
        ({"piece length": 16384}, "piece hashes"),
        ({"pieces": b"\x00" * 19}, "20-byte"),
        ({"pieces": b"\x00" * 40}, "piece hashes"),
        ({"meta version": 2}, "v2"),
    ],
)
def test_malformed_and_malicious_info_rejected(changes: dict[str, object], message: str) -> None:
    with pytest.raises(MalformedTorrentError, match=message):
        _layout(_info(**changes))


def test_wrong_piece_length_with_consistent_pieces_rejected() -> None:
    data, index = _fixed_folder()
    info = _info(**{"piece length": 16384, "pieces": hash_pieces(data + index, 16384)})
    with pytest.raises(MalformedTorrentError, match="piece length is 16384"):
        _layout(info)


def test_single_file_torrent_rejected() -> None:
    info = bencode.encode(
        {"length": 5, "name": NAME, "piece length": PIECE_LENGTH, "pieces": b"\x00" * 20}
    )
    with pytest.raises(MalformedTorrentError, match="single-file"):
        parse_info(info)


def test_oversized_announced_lengths_hit_the_caps() -> None:
    with pytest.raises(SizeLimitError, match="index"):
        _layout(_info(), max_index=100)
    with pytest.raises(SizeLimitError, match="data"):
        _layout(_info(), max_data=102400)


def test_metainfo_garbage_is_invalid_input() -> None:
    for bad in (b"", b"garbage", b"d4:infoi1ee", b"le"):
        with pytest.raises(InvalidInputError):
            parse_metainfo(bad)
