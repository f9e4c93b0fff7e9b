"""Magnet links: status-go's exact format (reference §5.5) and strict parsing."""

from __future__ import annotations

import libtorrent as lt
import pytest
from archive_service_torrent.backend import TorrentBackend
from archive_service_torrent.magnet import format_magnet, is_magnet, parse_magnet
from archive_service_torrent.settings import STATUS_GO_TRACKERS

from archive_service.errors import InvalidLinkError

from .conftest import COMMUNITY

INFO_HASH = bytes.fromhex("2f7f2d4376bbeedce29d259f933b8ecc0f61d83c")
NAME = "0x" + COMMUNITY.hex()

# What anacrolix's Magnet.String() gives for status-go's metainfo: xt first, then url.Values
# sorted by key (dn, tr), trackers in announce-list order, QueryEscape'd.
STATUS_GO_MAGNET = (
    "magnet:?xt=urn:btih:2f7f2d4376bbeedce29d259f933b8ecc0f61d83c"
    "&dn=0x035a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"
    "&tr=udp%3A%2F%2Ftracker.opentrackr.org%3A1337%2Fannounce"
    "&tr=udp%3A%2F%2Ftracker.openbittorrent.com%3A6969%2Fannounce"
)


def test_format_is_status_go_byte_for_byte() -> None:
    assert format_magnet(INFO_HASH, NAME, STATUS_GO_TRACKERS) == STATUS_GO_MAGNET


def test_peer_hints_sort_after_trackers_and_duplicates_collapse() -> None:
    link = format_magnet(
        INFO_HASH, NAME, ["udp://a:1/x", "udp://a:1/x"], [("127.0.0.1", 6881), ("::1", 7)]
    )
    assert link.endswith("&tr=udp%3A%2F%2Fa%3A1%2Fx&x.pe=127.0.0.1:6881&x.pe=[::1]:7")
    assert link.count("&tr=") == 1


def test_minimal_and_escaping() -> None:
    assert format_magnet(INFO_HASH, "") == f"magnet:?xt=urn:btih:{INFO_HASH.hex()}"
    assert "&dn=a+b%2Bc~_.-" in format_magnet(INFO_HASH, "a b+c~_.-")


def test_parse_round_trip_and_libtorrent_agrees() -> None:
    link = format_magnet(INFO_HASH, NAME, STATUS_GO_TRACKERS, [("127.0.0.1", 6881)])
    magnet = parse_magnet(link)
    assert magnet.info_hash == INFO_HASH and magnet.display_name == NAME
    assert magnet.trackers == STATUS_GO_TRACKERS
    assert magnet.peers == (("127.0.0.1", 6881),)
    assert str(magnet) == link
    atp = lt.parse_magnet_uri(link)
    assert str(atp.info_hashes.v1) == INFO_HASH.hex()
    assert atp.name == NAME and list(atp.trackers) == list(STATUS_GO_TRACKERS)
    assert atp.peers == [("127.0.0.1", 6881)]


def test_libtorrent_keeps_our_peer_hints_v4_and_v6() -> None:
    """BEP 9 writes `x.pe` as host:port; a percent-encoded colon makes libtorrent-based clients
    drop the peer silently (seen with `x.pe=127.0.0.1%3A49793`)."""
    link = format_magnet(INFO_HASH, NAME, (), [("127.0.0.1", 49793), ("::1", 7)])
    assert "&x.pe=127.0.0.1:49793&x.pe=[::1]:7" in link
    assert lt.parse_magnet_uri(link).peers == [("127.0.0.1", 49793), ("::1", 7)]
    assert parse_magnet(link).peers == (("127.0.0.1", 49793), ("::1", 7))


def test_parse_accepts_base32_and_upper_case() -> None:
    import base64

    b32 = base64.b32encode(INFO_HASH).decode()
    assert parse_magnet(f"magnet:?xt=urn:btih:{b32}").info_hash == INFO_HASH
    assert parse_magnet(f"MAGNET:?xt=urn:btih:{INFO_HASH.hex().upper()}").info_hash == INFO_HASH


@pytest.mark.parametrize(
    ("link", "message"),
    [
        ("zQm...", "not a magnet"),
        ("http://example.com/?xt=urn:btih:" + "a" * 40, "not a magnet"),
        ("magnet:?dn=x", "exactly one"),
        ("magnet:?xt=urn:btih:" + "a" * 40 + "&xt=urn:btih:" + "b" * 40, "exactly one"),
        ("magnet:?xt=urn:btih:" + "a" * 39, "neither 40 hex"),
        ("magnet:?xt=urn:btih:" + "g" * 40, "neither 40 hex"),
        ("magnet:?xt=urn:btih:" + "a" * 40 + "&x.pe=localhost:1", "IP address"),
        ("magnet:?xt=urn:btih:" + "a" * 40 + "&x.pe=127.0.0.1:0", "outside"),
        ("magnet:?xt=urn:btih:" + "a" * 40 + "&x.pe=127.0.0.1", "ip:port"),
        ("magnet:?xt=urn:btih:" + "a" * 40 + "&tr=file%3A%2F%2F%2Fetc", "tracker"),
        ("magnet:?xt=urn:btih:" + "a" * 40 + "&dn=a&dn=b", "more than one"),
        ("magnet:?xt=urn:btih:" + "a" * 40 + "&" + "&".join(["a=b"] * 100), "parsed"),
        ("magnet:?xt=urn:btih:" + "a" * 40 + "&tr=" + "x" * 9000, "characters"),
        ("magnet:?&&", "parsed"),
    ],
)
def test_invalid_links_rejected(link: str, message: str) -> None:
    with pytest.raises(InvalidLinkError, match=message):
        parse_magnet(link)


def test_handles_link_is_a_cheap_syntax_check() -> None:
    assert is_magnet(STATUS_GO_MAGNET) and TorrentBackend.handles_link(STATUS_GO_MAGNET)
    assert not TorrentBackend.handles_link("zDvZRwzm2qmyYh8PmWHaDt1gWbfyYtH7EBRBdTo8zpGbuZfn1ZUh")
    assert not TorrentBackend.handles_link("")
