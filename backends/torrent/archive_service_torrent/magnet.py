"""Magnet links as status-go writes them (reference §5.5) and strict parsing of received ones.

anacrolix `Magnet.String()`: `xt=urn:btih:<40 lowercase hex>` first, then the other parameters
through Go's `url.Values.Encode` — keys sorted (`dn` < `tr` < `x.pe`), values in insertion
order, each `QueryEscape`d (space as '+', every byte outside `A-Za-z0-9-_.~` as %XX).
`tr` are the distinct announce URLs in announce-list order. `x.pe` (BEP 9 peer address) is
ours and optional: a hint that lets a member dial the owner directly when no tracker or DHT
is available (loopback tests, LAN). Its value is written as BEP 9 shows it, `host:port` or
`[v6]:port` with the colon and brackets unescaped: libtorrent-based clients silently drop a
peer whose colon is percent-encoded.
"""

from __future__ import annotations

import base64
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote_plus

from archive_service.errors import InvalidLinkError

PREFIX = "magnet:?"
XT_PREFIX = "urn:btih:"
MAX_LINK_LENGTH = 8192  # a status-go magnet is ~250 bytes; anything huge is refused unparsed
MAX_PARAMS = 64
_HEX40 = re.compile(r"[0-9a-fA-F]{40}")
_B32 = re.compile(r"[A-Za-z2-7]{32}")
# Characters a parameter's value keeps unescaped; Go's QueryEscape escapes everything else.
_SAFE = {"x.pe": ":[]"}


@dataclass(frozen=True)
class Magnet:
    info_hash: bytes  # 20-byte v1 info-hash
    display_name: str = ""
    trackers: tuple[str, ...] = ()
    peers: tuple[tuple[str, int], ...] = ()

    @property
    def info_hash_hex(self) -> str:
        return self.info_hash.hex()

    def __str__(self) -> str:
        return format_magnet(self.info_hash, self.display_name, self.trackers, self.peers)


def format_magnet(
    info_hash: bytes,
    display_name: str,
    trackers: Sequence[str] = (),
    peers: Sequence[tuple[str, int]] = (),
) -> str:
    if len(info_hash) != 20:
        raise ValueError("a v1 info-hash is 20 bytes")
    params: dict[str, list[str]] = {}
    if display_name:
        params["dn"] = [display_name]
    distinct: list[str] = []
    for url in trackers:
        if url not in distinct:
            distinct.append(url)
    if distinct:
        params["tr"] = distinct
    if peers:
        params["x.pe"] = [_format_peer(host, port) for host, port in peers]
    query = "&".join(
        f"{quote_plus(key, safe='')}={quote_plus(value, safe=_SAFE.get(key, ''))}"
        for key in sorted(params)
        for value in params[key]
    )
    link = f"{PREFIX}xt={XT_PREFIX}{info_hash.hex()}"
    return f"{link}&{query}" if query else link


def _format_peer(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def is_magnet(link: str) -> bool:
    """Cheap syntax check used to route a link to this backend."""
    return link[: len(PREFIX)].lower() == PREFIX and XT_PREFIX in link[:MAX_LINK_LENGTH].lower()


def parse_magnet(link: str) -> Magnet:
    """Parse and validate; InvalidLinkError says what is wrong."""
    if not isinstance(link, str):
        raise InvalidLinkError(f"a magnet link is text, got {type(link).__name__}")
    if len(link) > MAX_LINK_LENGTH:
        raise InvalidLinkError(f"magnet link is {len(link)} characters (cap {MAX_LINK_LENGTH})")
    if link[: len(PREFIX)].lower() != PREFIX:
        raise InvalidLinkError(f"{link[:40]!r}… is not a magnet link (expected 'magnet:?…')")
    if any("\ud800" <= c <= "\udfff" for c in link):  # undecodable argv bytes (surrogates)
        raise InvalidLinkError("magnet link has bytes that are not UTF-8; libtorrent refuses it")
    try:
        pairs = parse_qsl(
            link[len(PREFIX) :],
            keep_blank_values=True,
            strict_parsing=True,
            max_num_fields=MAX_PARAMS,
            errors="strict",
        )
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidLinkError(f"magnet link query cannot be parsed: {exc}") from None

    xts = [v for k, v in pairs if k == "xt"]
    btih = [v for v in xts if v.lower().startswith(XT_PREFIX)]
    if len(btih) != 1:
        raise InvalidLinkError(
            f"magnet link has {len(btih)} 'xt=urn:btih:' parameters; exactly one is required"
        )
    info_hash = _parse_btih(btih[0][len(XT_PREFIX) :])

    names = [v for k, v in pairs if k == "dn"]
    if len(names) > 1:
        raise InvalidLinkError("magnet link has more than one 'dn' parameter")
    trackers = tuple(dict.fromkeys(v for k, v in pairs if k == "tr" and v))
    for url in trackers:
        if not re.match(r"^(udp|https?|wss?)://", url):
            raise InvalidLinkError(f"magnet tracker {url!r} is not a udp/http(s)/ws(s) URL")
    peers = tuple(_parse_peer(v) for k, v in pairs if k == "x.pe")
    return Magnet(
        info_hash=info_hash,
        display_name=names[0] if names else "",
        trackers=trackers,
        peers=peers,
    )


def _parse_btih(text: str) -> bytes:
    if _HEX40.fullmatch(text):
        return bytes.fromhex(text)
    if _B32.fullmatch(text):
        return base64.b32decode(text.upper())
    raise InvalidLinkError(
        f"magnet info-hash {text[:64]!r} is neither 40 hex digits nor 32 base32 characters"
    )


def _parse_peer(text: str) -> tuple[str, int]:
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit():
        raise InvalidLinkError(f"magnet peer {text!r} is not 'ip:port'")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise InvalidLinkError(f"magnet peer {text!r} is not an IP address and port") from None
    port = int(port_text)
    if not 0 < port < 65536:
        raise InvalidLinkError(f"magnet peer {text!r} has port {port} outside 1–65535")
    return str(address), port
