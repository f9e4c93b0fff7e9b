"""`inspect` decodes indexes through the installed backends (`BackendFactory.decode_index`),
decrypting an envelope first when the node's keys are given."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from archive_service_cli.inspect import MEMBER_LIMITS, inspect_bytes
from archive_service_cli.operations import inspect_target

from archive_service.crypto.hashratchet import HashRatchet
from archive_service.crypto.signing import generate_community_key, sign_archive_link
from archive_service.errors import InvalidInputError, SizeLimitError
from archive_service.ids import keccak256
from archive_service.plugins import backend_factories, plugin_manager
from archive_service.store import Store
from archive_service.wire import app_pb, pb

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


# --- caps and exit codes (issue #11 item 9) -------------------------------------------------


def _repeated_index(entries: int) -> bytes:
    """An index whose one valid entry repeats `entries` times on the wire (a decoder keeps one;
    a tool that counts or builds every entry pays for all of them)."""
    entry = pb.WakuMessageArchiveIndexMetadata(metadata=_metadata(0), offset=0, size=1000)
    one = pb.WakuMessageArchiveIndex()
    one.archives[_key(entry)].CopyFrom(entry)
    return one.SerializeToString() * entries


def test_an_index_over_the_entry_cap_is_refused_before_decoding() -> None:
    data = _repeated_index(150_000)  # ~14 MB: under the byte cap, over the entry cap
    assert len(data) < MEMBER_LIMITS.max_index_bytes
    began = time.monotonic()
    with pytest.raises(SizeLimitError, match=r"over 100,000 entries.*--no-limits"):
        inspect_bytes(data, pm=plugin_manager())
    assert time.monotonic() - began < 2.0
    lifted = inspect_bytes(data, pm=plugin_manager(), limits=None)  # the flag lifts it
    assert lifted["kind"] == "torrent-index" and len(lifted["archives"]) == 1


@pytest.mark.skipif(
    not Path("/proc/self/status").exists(), reason="measures the peak memory through /proc"
)
def test_a_million_entry_index_is_refused_quickly_in_little_memory(tmp_path: Path) -> None:
    index = tmp_path / "index"
    index.write_bytes(_repeated_index(1_000_000))
    # VmHWM is the peak of this process's own memory; ru_maxrss would also count the test
    # process it was forked from.
    measured = (
        "import re, runpy, sys\n"
        "sys.argv = ['archive-service', 'inspect', sys.argv[1]]\n"
        "try:\n"
        "    runpy.run_module('archive_service_cli', run_name='__main__')\n"
        "finally:\n"
        "    status = open('/proc/self/status').read()\n"
        "    print('peak_kib', re.search(r'VmHWM:\\s+(\\d+)', status)[1], file=sys.stderr)\n"
    )
    began = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", measured, str(index)], capture_output=True, text=True, timeout=60
    )
    seconds = time.monotonic() - began
    error, peak = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert error.startswith("error: index of") and "--no-limits" in error
    assert seconds < 10
    # The file itself (~90 MB) is read once; nothing is decoded (813 MiB before the cap).
    assert int(peak.split()[1]) < 250 * 1024, peak


def test_a_file_over_the_largest_member_cap_is_refused_unread(tmp_path: Path) -> None:
    big = tmp_path / "big"
    with big.open("wb") as f:
        f.truncate(MEMBER_LIMITS.max_file_bytes + 1)  # sparse: never read
    with pytest.raises(SizeLimitError, match="--no-limits"):
        inspect_target(str(big), None, None)


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "archive_service_cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_inspect_exits_non_zero_when_it_cannot_decrypt(crypto: HashRatchet, tmp_path: Path) -> None:
    envelope = tmp_path / "index.enc"
    envelope.write_bytes(crypto.encrypt(COMMUNITY, torrent_index()))
    result = _cli("inspect", envelope, "--json")
    assert result.returncode == 1
    shown = json.loads(result.stdout)  # what could be read is still printed
    assert shown["kind"] == "encrypted" and shown["envelope"]["group_id"] == "0x" + COMMUNITY.hex()
    (line,) = [line for line in result.stderr.splitlines() if line.strip()]
    assert line.startswith("error: ")


def test_inspect_exits_non_zero_on_a_bad_signature(tmp_path: Path) -> None:
    private, _ = generate_community_key()
    message = app_pb.ApplicationMetadataMessage.FromString(
        sign_archive_link(private, 1, "magnet:?xt=urn:btih:" + "00" * 20)
    )
    message.signature = message.signature[:64] + b"\x07"  # recovery id out of 0..3
    path = tmp_path / "bad.msg"
    path.write_bytes(message.SerializeToString())
    result = _cli("inspect", path)
    assert result.returncode == 1 and "recovery id" in result.stderr
    assert "valid_signature" in result.stdout and "Traceback" not in result.stderr
    good = tmp_path / "good.msg"
    good.write_bytes(sign_archive_link(private, 1, "magnet:?xt=urn:btih:" + "00" * 20))
    assert _cli("inspect", good).returncode == 0
