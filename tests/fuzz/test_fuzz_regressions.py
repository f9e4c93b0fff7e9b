"""Inputs the fuzzers found, and inputs that claim huge sizes: each must end in a typed error,
promptly and without allocating what it claims."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable

import pytest

from fuzz import targets
from fuzz.targets import TARGETS

SMALL = 4 << 20  # traced bytes any of these inputs may cost


def run_small(name: str, data: bytes) -> BaseException | None:
    """Run target `name` on `data`; return its typed error (None if it parsed). Fails on an
    untyped error or on more than SMALL traced bytes."""
    target = TARGETS[name]
    return within_small(lambda: target.run(data), target.typed)


def within_small(
    call: Callable[[], object], typed: tuple[type[BaseException], ...]
) -> BaseException | None:
    call_error: BaseException | None = None
    tracemalloc.start()
    try:
        try:
            call()
        except typed as exc:
            call_error = exc
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < SMALL, f"{peak} traced bytes"
    return call_error


# --- found by the fuzzers -----------------------------------------------------------------
def test_magnet_with_undecodable_argv_bytes_is_a_link_error() -> None:
    """Found by the CI fuzz run: `fetch --link` with a raw 0xff byte arrives as a surrogate,
    parse_magnet accepted it, and libtorrent (or str(magnet)) raised UnicodeEncodeError."""
    link = "magnet:?xt=urn:btih:" + "ab" * 20 + "&tr=udp://t\udcff:1"
    error = run_small("magnet", link.encode("utf-8", "surrogateescape"))
    assert error is not None and "UTF-8" in str(error)
    dn = b"magnet:?xt=urn:btih:6ea31eb6616ebee7f7284d0e5b97d23ec3809f22&dn=0x02\xff09"
    assert run_small("magnet", dn) is not None


@pytest.mark.parametrize("nesting", ["[" * 5000 + "]" * 5000, "{a=" * 3000 + "1" + "}" * 3000])
def test_config_nested_too_deep_is_a_config_error(nesting: str) -> None:
    """tomllib recurses per nesting level: a deep value raised RecursionError out of
    load_config (file) and out of an environment value starting with '[' or '{'."""
    error = run_small("config-toml", f"enabled = {nesting}\n".encode())
    assert error is not None and "not valid TOML" in str(error)
    error = run_small("config-env", f"ARCHIVE_SERVICE_ENABLED={nesting}".encode())
    assert error is not None and "enabled" in str(error)


def test_inspect_text_with_undecodable_argv_bytes_is_a_typed_error() -> None:
    error = within_small(lambda: targets.inspect_argv("zDvZ\udcff"), TARGETS["inspect-text"].typed)
    assert error is not None


LONG_MAGNET = (
    "magnet:?xt=urn:btih:6ea31eb6616ebee7f7284d0e5b97d23ec3809f22&dn=0x029c5530e4385ebc41cdaf8"
    "257edf9a2baaf8506a4099103211e6ed7382103ed67&tr=udp%3A%2F%2Ftracker.example%3A6969&tr=udp%3"
    "A%2F%2Ftracker2.example%3A6969&tr=udp%3A%2F%2Ftracker3.example%3A6969&x.pe=127.0.0.1:49793"
)


def test_inspect_of_a_long_magnet_link() -> None:
    assert len(LONG_MAGNET) > 255
    targets.inspect_argv(LONG_MAGNET[:200])  # imports the plugins outside the measurement
    found = within_small(lambda: targets.inspect_argv(LONG_MAGNET), TARGETS["inspect-text"].typed)
    assert found is None


# --- sizes claimed, never allocated -----------------------------------------------------------
def test_bencode_string_claiming_a_petabyte() -> None:
    data = b"d4:infod5:filesl" + b"1000000000000000:x" + b"eee"
    assert run_small("torrent-file", data) is not None
    assert run_small("torrent-info", b"d4:name" + b"999999999999:ab" + b"e") is not None


def test_torrent_claiming_huge_files_is_refused_by_the_caps() -> None:
    info = targets.bencode_encode(
        {
            "files": [
                {"length": 1 << 62, "path": ["data"]},
                {"length": 1000, "path": ["index"]},
            ],
            "name": "0x" + targets.world().community_id.hex(),
            "piece length": 102400,
            "pieces": b"\x00" * 20,  # one hash for 2**62 bytes: refused before any use
        }
    )
    error = run_small("torrent-info", info)
    assert error is not None


def test_torrent_index_entry_claiming_bytes_past_the_data_file() -> None:
    piece = 102400
    for offset, size in [(0, piece << 40), (piece << 45, piece), (0, 65 * piece)]:
        error = run_small("torrent-index", targets.torrent_index_with(offset, size, 1))
        assert error is not None and "beyond" in str(error)


def test_ratchet_step_far_ahead_is_refused_before_hashing() -> None:
    # Another test may have cached a few steps: stay well past the 100,000-step limit.
    for seq_no in (2**32 - 1, 1_000_000):
        error = run_small("envelope", targets.envelope_with_seq_no(seq_no))
        assert error is not None and "limit" in str(error)


def test_codex_manifest_claiming_a_huge_dataset_is_refused_before_download() -> None:
    error = within_small(
        lambda: targets.codex_verifier(1 << 62, 65536, 64 << 20), targets.CODEX_SIZE_ERRORS
    )
    assert error is not None and "cap" in str(error)
    error = within_small(
        lambda: targets.codex_verifier(1000, 1 << 40, 64 << 20), targets.CODEX_SIZE_ERRORS
    )
    assert error is not None and "block size" in str(error)


def test_cid_and_manifest_varints_past_64_bits() -> None:
    assert run_small("cid-binary", b"\x01" + b"\xff" * 20) is not None
    assert run_small("manifest", b"\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01") is not None
    assert run_small("cid-text", ("k" + "z" * 511).encode()) is not None
