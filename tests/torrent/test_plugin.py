"""The plugin surface: entry-point factory and settings, loopback provider, inspect hook."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from archive_service_cli.inspect import inspect_bytes
from archive_service_torrent.backend import TorrentBackend
from archive_service_torrent.plugin import TorrentLoopback
from archive_service_torrent.settings import STATUS_GO_TRACKERS, TorrentSettings

from archive_service.crypto.hashratchet import HashRatchet
from archive_service.errors import BackendUnavailableError, ConfigError
from archive_service.plugins import backend_factories, plugin_manager
from archive_service.store import Store

from .conftest import COMMUNITY, T0, WEEK, publish, side_context, week_messages


def test_entry_point_registers_the_factory(tmp_path: Path) -> None:
    factory = backend_factories(plugin_manager())["torrent"]
    assert factory.backend_class is TorrentBackend and factory.settings_model is TorrentSettings
    assert factory.handles_link("magnet:?xt=urn:btih:" + "a" * 40)
    store = Store(tmp_path / "db.sqlite")
    try:
        context = side_context(tmp_path, store, HashRatchet(store), [])
        backend = factory.create(context, {"listen_port": 9025, "enable_dht": False})
        assert isinstance(backend, TorrentBackend)
        assert backend.tsettings.listen_port == 9025
        # status-go's defaults: its two trackers, folders under the backend's directory.
        assert backend.tsettings.announce == list(STATUS_GO_TRACKERS)
        assert backend.data_dir == tmp_path / "torrent" / "archivedata"
        assert backend.torrent_dir == tmp_path / "torrent" / "torrents"
        with pytest.raises(ConfigError, match=r"backend\.torrent\.bogus"):
            factory.create(context, {"bogus": 1})
        with pytest.raises(ConfigError, match=r"backend\.torrent\.listen_interface"):
            factory.create(context, {"listen_interface": "localhost"})
        with pytest.raises(ConfigError, match=r"backend\.torrent\.listen_port"):
            factory.create(context, {"listen_port": 70000})
    finally:
        store.close()


async def test_loopback_provider_settings_never_leave_loopback(tmp_path: Path) -> None:
    settings = await TorrentLoopback().node_settings(
        role="owner", name="owner", workdir=tmp_path, stack=None, shared={}
    )  # type: ignore[arg-type]
    model = TorrentSettings.model_validate(settings)
    assert model.listen_interface == "127.0.0.1" and model.loopback_only
    assert model.announce == [] and model.magnet_peer_hints
    assert not (model.enable_dht or model.enable_lsd or model.enable_upnp or model.enable_natpmp)


async def test_pinned_busy_port_fails_start_with_a_clear_error(make_side) -> None:
    with socket.socket() as tcp:
        tcp.bind(("127.0.0.1", 0))
        tcp.listen()
        port = tcp.getsockname()[1]
        side = await make_side("node", start=False, listen_port=port, port_fallback=False)
        with pytest.raises(BackendUnavailableError, match="listen_port"):
            await side.backend.start()
        assert not side.backend.is_started
        fallback = await make_side("other", listen_port=port)  # default: fall back
        assert fallback.backend.listen_port not in (0, port)


async def test_inspect_decodes_torrent_files_and_magnets(make_side) -> None:
    owner = await make_side("owner")
    result = await publish(owner, week_messages(0), T0, T0 + WEEK)
    pm = plugin_manager()
    torrent = inspect_bytes(owner.backend.paths(COMMUNITY).torrent.read_bytes(), pm=pm)
    assert torrent["kind"] == "torrent" and torrent["piece_length"] == 102400
    assert [f["path"] for f in torrent["files"]] == ["data", "index"]
    assert result.link is not None
    magnet = inspect_bytes(result.link.encode(), text=result.link, pm=pm)
    assert magnet["kind"] == "magnet" and magnet["info_hash"] == torrent["info_hash"]
    assert magnet["name"] == "0x" + COMMUNITY.hex()
