"""The Codex index codec (archive_service_codex.index): entries by CID."""

from __future__ import annotations

import pytest
from archive_service_codex.index import codex_entries, decode_codex_index, decode_plain_codex_index
from index_samples import COMMUNITY, codex_index, md, torrent_index

from archive_service.errors import MalformedIndexError
from archive_service.index import archive_id, encode_index, metadata_to_pb
from archive_service.plugins import backend_factories, plugin_manager
from archive_service.wire import pb


def test_codex_index_round_trip_plaintext() -> None:
    index = codex_index()
    decoded = decode_codex_index(encode_index(index, COMMUNITY, None), COMMUNITY, None)
    assert decoded == index
    entries = codex_entries(decoded)
    assert [e.metadata.from_ts for e in entries] == [md(i).from_ts for i in range(3)]
    assert entries[0].locator == {"cid": "zDvZRwzm" + "0" * 40}
    assert entries[0].size == 0


def test_codex_entry_without_cid_rejected() -> None:
    index = pb.CodexWakuMessageArchiveIndex()
    entry = pb.CodexWakuMessageArchiveIndexMetadata(metadata=metadata_to_pb(md(0)))
    index.archives[archive_id(entry)].CopyFrom(entry)
    with pytest.raises(MalformedIndexError, match="no CID"):
        decode_codex_index(index.SerializeToString(), COMMUNITY, None)


def test_codex_forged_key_rejected() -> None:
    index = codex_index(1)
    key = next(iter(index.archives))
    entry = index.archives[key]
    entry.cid = "zDvZRwzmEvil"
    with pytest.raises(MalformedIndexError, match="does not match"):
        decode_codex_index(index.SerializeToString(), COMMUNITY, None)


def test_torrent_index_read_as_codex_rejected() -> None:
    # offset/size/padding become unknown fields of a Codex entry: no CID, so not accepted
    data = torrent_index().SerializeToString()
    with pytest.raises(MalformedIndexError):
        decode_codex_index(data, COMMUNITY, None)


def test_factory_decodes_a_plain_index_for_tools() -> None:
    data = encode_index(codex_index(), COMMUNITY, None)
    factory = backend_factories(plugin_manager())["logos-storage"]
    assert factory.decode_index is decode_plain_codex_index
    assert factory.decode_index(data) == codex_entries(decode_codex_index(data, COMMUNITY, None))
