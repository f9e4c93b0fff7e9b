"""Plugin entry point (`torrent = archive_service_torrent.plugin`): the backend factory, a
loopback provider for the lab, and `.torrent` / magnet decoding for `archive-service inspect`.

The last two are application hooks (`archive_service_cli.hookspecs`), implemented as optional
so a library-only install passes `check_pending()`; the provider matches the lab's
`LoopbackProvider` protocol by shape, so loading this plugin imports no application code."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from archive_service.errors import InvalidInputError
from archive_service.hookspecs import hookimpl
from archive_service.interface import BackendDefaults, BackendFactory
from archive_service_torrent.backend import TorrentBackend
from archive_service_torrent.index import decode_plain_torrent_index
from archive_service_torrent.magnet import is_magnet, parse_magnet
from archive_service_torrent.metainfo import parse_metainfo
from archive_service_torrent.settings import TorrentSettings


@hookimpl
def archive_backend_factories() -> list[BackendFactory]:
    return [
        BackendFactory(
            name=TorrentBackend.name,
            description="BitTorrent (libtorrent): status-go index + data torrents, magnet links",
            backend_class=TorrentBackend,
            settings_model=TorrentSettings,
            defaults=BackendDefaults(order=0, publish=True, preference=1),
            decode_index=decode_plain_torrent_index,
        )
    ]


class TorrentLoopback:
    """127.0.0.1 only, no trackers/DHT, magnets carrying the owner's address as x.pe."""

    backend = TorrentBackend.name

    async def node_settings(
        self,
        *,
        role: str,
        name: str,
        workdir: Path,
        stack: contextlib.AsyncExitStack,
        shared: dict[str, Any],
    ) -> dict[str, Any]:
        defaults = TorrentSettings()
        loopback = TorrentSettings.loopback()
        return {
            key: value
            for key, value in loopback.model_dump(mode="json").items()
            if value != getattr(defaults, key)
        }


@hookimpl(optionalhook=True)
def archive_loopback_providers() -> list[TorrentLoopback]:
    return [TorrentLoopback()]


@hookimpl(optionalhook=True)  # specified by the application, absent from a library-only install
def archive_inspect(data: bytes, text: str | None) -> dict[str, object] | None:
    if text is not None and is_magnet(text):
        magnet = parse_magnet(text)
        return {
            "kind": "magnet",
            "info_hash": magnet.info_hash_hex,
            "name": magnet.display_name,
            "trackers": list(magnet.trackers),
            "peers": [f"{h}:{p}" for h, p in magnet.peers],
        }
    if not data.startswith(b"d"):
        return None
    try:
        meta = parse_metainfo(data)
    except InvalidInputError:
        return None
    return {
        "kind": "torrent",
        "info_hash": meta.info_hash.hex(),
        "name": meta.info.name,
        "piece_length": meta.info.piece_length,
        "pieces": meta.info.num_pieces,
        "files": [{"path": "/".join(f.path), "length": f.length} for f in meta.info.files],
        "announce": meta.trackers(),
        "created_by": meta.created_by,
        "creation_date": meta.creation_date,
    }
