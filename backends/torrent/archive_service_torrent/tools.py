"""CLI-facing extras of the BitTorrent plugin: `archive-service inspect` of .torrent files and
magnet links."""

from __future__ import annotations

from typing import Any

from archive_service.errors import InvalidInputError
from archive_service.hookspecs import hookimpl
from archive_service_torrent.magnet import is_magnet, parse_magnet
from archive_service_torrent.metainfo import parse_metainfo


@hookimpl
def archive_inspect(data: bytes, text: str | None) -> dict[str, Any] | None:
    if text is not None and is_magnet(text):
        magnet = parse_magnet(text)
        return {
            "kind": "magnet",
            "info_hash": magnet.info_hash_hex,
            "name": magnet.display_name,
            "trackers": list(magnet.trackers),
            "peers": [f"{host}:{port}" for host, port in magnet.peers],
        }
    if not data.startswith(b"d"):  # every .torrent is a bencoded dictionary
        return None
    try:
        meta = parse_metainfo(data)
    except InvalidInputError:
        return None
    info = meta.info
    return {
        "kind": "torrent",
        "info_hash": meta.info_hash.hex(),
        "name": info.name,
        "piece_length": info.piece_length,
        "pieces": len(info.pieces) // 20,
        "files": [{"path": "/".join(f.path), "length": f.length} for f in info.files],
        "trackers": meta.trackers(),
        "created_by": meta.created_by,
        "creation_date": meta.creation_date,
    }
