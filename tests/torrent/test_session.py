"""The libtorrent session wrapper: constructor settings, ports, loopback filter, alert pump."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
from archive_service_torrent.session import TorrentSession
from archive_service_torrent.settings import TorrentSettings

from archive_service.errors import BackendUnavailableError


@pytest.fixture
def busy_port():
    """A port held by a listening TCP socket and a bound UDP socket on 127.0.0.1."""
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen()
    port = tcp.getsockname()[1]
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", port))
    yield port
    tcp.close()
    udp.close()


async def test_loopback_settings_reach_the_constructor() -> None:
    session = await TorrentSession.open(TorrentSettings.loopback())
    try:
        got = session._ses.get_settings()
        assert got["enable_dht"] is False and got["dht_bootstrap_nodes"] == ""
        assert not any(got[k] for k in ("enable_lsd", "enable_upnp", "enable_natpmp"))
        assert got["close_redundant_connections"] is False
        assert got["recv_socket_buffer_size"] == 4 << 20  # uTP's speed (libtorrent.md)
        assert got["send_socket_buffer_size"] == 0  # a seeder commits no more than it must
        assert got["listen_interfaces"].startswith("127.0.0.1:")
        assert not session._ses.is_dht_running()
        assert session.listen_port > 0
        # Only loopback addresses pass the IP filter.
        ip_filter = session._ses.get_ip_filter()
        assert ip_filter.access("127.0.0.1") == 0 and ip_filter.access("::1") == 0
        assert ip_filter.access("10.0.0.1") == 1 and ip_filter.access("8.8.8.8") == 1
        assert ip_filter.access("2001:db8::1") == 1
    finally:
        await session.close()


async def test_busy_port_falls_back_to_a_free_one(busy_port: int) -> None:
    session = await TorrentSession.open(TorrentSettings.loopback(listen_port=busy_port))
    try:
        assert session.listen_port not in (0, busy_port)
    finally:
        await session.close()


async def test_busy_pinned_port_is_a_clear_error(busy_port: int) -> None:
    settings = TorrentSettings.loopback(listen_port=busy_port, port_fallback=False)
    with pytest.raises(BackendUnavailableError, match=f"{busy_port} is in use"):
        await TorrentSession.open(settings)


async def test_free_pinned_port_is_used() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    session = await TorrentSession.open(
        TorrentSettings.loopback(listen_port=port, port_fallback=False)
    )
    try:
        assert session.listen_port == port
    finally:
        await session.close()


async def test_idle_session_does_not_spin_the_event_loop() -> None:
    """The alert fd wakes the loop only when libtorrent has something to say: an idle
    session costs next to no CPU and leaves the loop free (no busy polling)."""
    session = await TorrentSession.open(TorrentSettings.loopback())
    drains = 0
    original = session._drain

    def counting() -> None:
        nonlocal drains
        drains += 1
        original()

    loop = asyncio.get_running_loop()
    loop.remove_reader(session._read_fd)
    loop.add_reader(session._read_fd, counting)
    try:
        cpu0 = time.process_time()
        beats = 0
        t_end = loop.time() + 1.0
        while loop.time() < t_end:
            await asyncio.sleep(0.01)
            beats += 1
        cpu = time.process_time() - cpu0
        assert beats > 50  # the loop kept running
        assert drains < 20  # a few stats/housekeeping alerts at most
        assert cpu < 0.5
    finally:
        await session.close()
