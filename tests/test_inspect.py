"""`inspect` decodes indexes through the installed backends (`BackendFactory.decode_index`),
decrypting an envelope first when the node's keys are given."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from archive_service_cli.inspect import inspect_bytes

from archive_service.crypto.hashratchet import HashRatchet
from archive_service.errors import InvalidInputError
from archive_service.ids import keccak256
from archive_service.plugins import backend_factories, plugin_manager
from archive_service.store import Store
from archive_service.wire import pb

COMMUNITY = bytes.fromhex("03" + "5a" * 32)
TOPIC = b"\x01\x02\x03\x04"
WEEK = 7 * 24 * 3600
T0 = 1_700_000_000 - 1_700_000_000 % WEEK
CID = "zDvZRwzm1ePSzKSXt57D5YxHwcSDmsCyYN65wW4HT7fuX9HrzFXy"


def _metadata(week: int) -> pb.WakuMessageArchiveMetadata:
    # `from` is a Python keyword, hence the keyword dictionary.
    window = {"from": T0 + week * WEEK, "to": T0 + (week + 1) * WEEK, "contentTopic": [TOPIC]}
    return pb.WakuMessageArchiveMetadata(**window)


def _key(
    entry: pb.WakuMessageArchiveIndexMetadata | pb.CodexWakuMessageArchiveIndexMetadata,
) -> str:
    return "0x" + keccak256(entry.SerializeToString()).hex()


def torrent_index() -> bytes:
    index = pb.WakuMessageArchiveIndex()
    for week, offset in ((1, 1000), (0, 0)):  # stored out of window order
        entry = pb.WakuMessageArchiveIndexMetadata(
            metadata=_metadata(week), offset=offset, size=1000, padding=24
        )
        index.archives[_key(entry)].CopyFrom(entry)
    return index.SerializeToString(deterministic=True)


def codex_index() -> bytes:
    index = pb.CodexWakuMessageArchiveIndex()
    entry = pb.CodexWakuMessageArchiveIndexMetadata(metadata=_metadata(0), cid=CID)
    index.archives[_key(entry)].CopyFrom(entry)
    return index.SerializeToString(deterministic=True)


@pytest.fixture
def crypto(tmp_path: Path) -> Iterator[HashRatchet]:
    with Store(tmp_path / "node.sqlite") as store:
        ratchet = HashRatchet(store)
        ratchet.generate_group_key(COMMUNITY)
        yield ratchet


def test_indexes_are_decoded_by_the_backend_that_owns_them() -> None:
    pm = plugin_manager()
    assert backend_factories(pm)["noop"].decode_index is None  # skipped: no index kind

    torrent = inspect_bytes(torrent_index(), pm=pm)
    assert torrent["kind"] == "torrent-index" and torrent["encrypted"] is False
    entries = list(torrent["archives"].values())
    assert [e["from"] for e in entries] == [T0, T0 + WEEK]  # oldest window first
    assert entries[0] == {
        "from": T0,
        "to": T0 + WEEK,
        "topics": ["0x01020304"],
        "offset": 0,
        "size": 1000,
        "padding": 24,
    }

    codex = inspect_bytes(codex_index(), pm=pm)
    assert codex["kind"] == "logos-storage-index"
    ((archive_id, entry),) = codex["archives"].items()
    assert archive_id.startswith("0x") and entry["cid"] == CID and entry["to"] == T0 + WEEK


def test_an_encrypted_index_is_decrypted_with_the_nodes_keys(crypto: HashRatchet) -> None:
    pm = plugin_manager()
    envelope = crypto.encrypt(COMMUNITY, torrent_index())
    shown = inspect_bytes(envelope, crypto=crypto, pm=pm)
    assert shown["kind"] == "torrent-index" and shown["encrypted"] is True
    assert len(shown["archives"]) == 2

    without_keys = inspect_bytes(envelope, pm=pm)
    assert without_keys["kind"] == "encrypted" and "--community and --db" in without_keys["hint"]
    assert without_keys["envelope"]["group_id"] == "0x" + COMMUNITY.hex()


def test_bytes_of_no_known_kind_are_one_clear_error() -> None:
    with pytest.raises(InvalidInputError, match="not a recognised artefact"):
        inspect_bytes(b"\xff\x00 certainly not an artefact", pm=plugin_manager())
