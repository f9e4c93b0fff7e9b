"""The BitTorrent index codec (archive_service_torrent.index): entries by byte range, checked
for the torrent's rules (sizes, padding, no overlap)."""

from __future__ import annotations

import pytest
from archive_service_torrent.index import (
    decode_plain_torrent_index,
    decode_torrent_index,
    torrent_entries,
)
from index_samples import COMMUNITY, PIECE, md, torrent_index

from archive_service.errors import DecryptionError, MalformedIndexError
from archive_service.index import archive_id, encode_index
from archive_service.plugins import backend_factories, plugin_manager
from archive_service.wire import enc_pb, pb


def test_torrent_index_round_trip_plaintext() -> None:
    index = torrent_index()
    data = encode_index(index, COMMUNITY, None)
    assert data == index.SerializeToString(deterministic=True)
    decoded = decode_torrent_index(data, COMMUNITY, None)
    assert decoded == index
    entries = torrent_entries(decoded)
    assert [e.locator["offset"] for e in entries] == [0, PIECE, 2 * PIECE]
    assert [e.metadata for e in entries] == [md(0), md(1), md(2)]
    assert entries[1].locator == {"offset": PIECE, "size": PIECE, "padding": PIECE - 2000}
    assert entries[1].size == PIECE
    assert all(e.archive_id in index.archives for e in entries)


def _forge(index: pb.WakuMessageArchiveIndex, key: str, **changes: int) -> bytes:
    """Change an entry but keep its key (or re-key it with rekey=1)."""
    rekey = changes.pop("rekey", 0)
    entry = pb.WakuMessageArchiveIndexMetadata()
    entry.CopyFrom(index.archives[key])
    for name, value in changes.items():
        setattr(entry, name, value)
    del index.archives[key]
    index.archives[archive_id(entry) if rekey else key].CopyFrom(entry)
    return index.SerializeToString()


def test_forged_entry_with_stale_key_rejected() -> None:
    index = torrent_index()
    key = sorted(index.archives)[0]
    with pytest.raises(MalformedIndexError, match="does not match"):
        decode_torrent_index(_forge(index, key, padding=7), COMMUNITY, None)


def test_overlapping_entries_rejected() -> None:
    index = torrent_index()
    second = next(k for k, e in index.archives.items() if e.offset == PIECE)
    data = _forge(index, second, offset=PIECE - 1, rekey=1)
    with pytest.raises(MalformedIndexError, match="overlap"):
        decode_torrent_index(data, COMMUNITY, None)


def test_adjacent_entries_at_any_offsets_accepted() -> None:
    # offsets need not be piece multiples (the format does not require it), only disjoint
    index = torrent_index(2)
    second = next(k for k, e in index.archives.items() if e.offset == PIECE)
    data = _forge(index, second, offset=PIECE + 1, rekey=1)
    assert len(decode_torrent_index(data, COMMUNITY, None).archives) == 2


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"size": 0, "padding": 0}, "size 0"),
        ({"padding": PIECE}, "padding"),
        ({"padding": PIECE + 1}, "padding"),
    ],
)
def test_bad_sizes_rejected(changes: dict[str, int], message: str) -> None:
    index = torrent_index(1)
    key = next(iter(index.archives))
    with pytest.raises(MalformedIndexError, match=message):
        decode_torrent_index(_forge(index, key, rekey=1, **changes), COMMUNITY, None)


def test_factory_decodes_a_plain_index_for_tools() -> None:
    data = encode_index(torrent_index(), COMMUNITY, None)
    factory = backend_factories(plugin_manager())["torrent"]
    assert factory.decode_index is decode_plain_torrent_index
    assert factory.decode_index(data) == torrent_entries(
        decode_torrent_index(data, COMMUNITY, None)
    )
    with pytest.raises(MalformedIndexError):
        factory.decode_index(b"\x10\x01")


def test_plain_decoder_refuses_an_encrypted_index() -> None:
    message = enc_pb.ProtocolMessage(installation_id="x")
    message.encrypted_message["none"].HR_header.seq_no = 1
    with pytest.raises(DecryptionError, match="encrypted"):
        decode_plain_torrent_index(message.SerializeToString())
