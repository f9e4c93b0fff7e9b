"""`[backend.torrent]` settings.

Defaults are for a real node: listen on every interface on a free port, announce to
status-go's two trackers, DHT on (as anacrolix in status-go, so magnets resolve without a
working tracker), and no router changes (UPnP / NAT-PMP off: opening a port on the user's
router is their decision) and no local peer discovery (LSD broadcasts on the LAN). BitTorrent
exposes the node's IP address to every peer and tracker.

Tests and the loopback lab use `loopback()`: 127.0.0.1 only, an IP filter that drops every
other address, no trackers, no DHT/LSD/UPnP/NAT-PMP, and peer hints in magnets.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

STATUS_GO_TRACKERS = (
    "udp://tracker.opentrackr.org:1337/announce",
    "udp://tracker.openbittorrent.com:6969/announce",
)
MIB = 1024 * 1024
GIB = 1024 * MIB


class TorrentSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    listen_interface: str = Field(
        "0.0.0.0", description="IP address to listen on (127.0.0.1 for loopback-only nodes)"
    )
    listen_port: int = Field(
        0, ge=0, le=65535, description="TCP+UDP port; 0 lets the system pick a free one"
    )
    port_fallback: bool = Field(
        True,
        description="if listen_port is busy, listen on another free port instead of failing "
        "(when false, a busy port makes start() raise BackendUnavailableError)",
    )
    data_dir: Path | None = Field(
        None, description="folder of <0x id>/{index,data}; default <backend dir>/archivedata"
    )
    torrent_dir: Path | None = Field(
        None, description="folder of <0x id>.torrent; default <backend dir>/torrents"
    )
    announce: list[str] = Field(
        default_factory=lambda: list(STATUS_GO_TRACKERS),
        description="trackers written into new torrents and magnets (one per tier)",
    )
    enable_dht: bool = Field(True, description="BitTorrent DHT (peer discovery without trackers)")
    enable_lsd: bool = Field(False, description="local service discovery (LAN multicast)")
    enable_upnp: bool = Field(False, description="ask the router to forward the port (UPnP)")
    enable_natpmp: bool = Field(False, description="ask the router to forward the port (NAT-PMP)")
    loopback_only: bool = Field(
        False, description="IP filter allowing only 127.0.0.0/8 and ::1 (tests, demos)"
    )
    magnet_peer_hints: bool = Field(
        False,
        description="add x.pe=<this node's address> to published magnets so members can dial "
        "the owner directly without tracker or DHT (loopback, LAN)",
    )
    peer_hint_host: str | None = Field(
        None, description="address put in x.pe hints; default the listen interface"
    )
    outgoing_utp: bool = Field(
        True,
        description="dial peers over uTP first; turn off to reach TCP-only clients such as "
        "aria2 and transmission",
    )
    incoming_utp: bool = Field(True, description="accept uTP connections")
    recv_socket_buffer_size: int = Field(
        4 * MIB,
        ge=0,
        description="receive socket buffer, 0 = the OS default (uTP needs ~4 MiB for speed)",
    )
    # Not 4 MiB like the receive side: a fixed send buffer that large lets a seeder hand the
    # kernel megabytes of blocks ahead of a slow uplink, committed before any member could have
    # fetched them from another member. Measured: an owner at 10 Mbit/s with 20 members uploaded
    # 4.8x the history with 4 MiB, 1.1x with the OS default; one uTP pair on loopback is as
    # fast either way (README "Community scale").
    send_socket_buffer_size: int = Field(
        0, ge=0, description="send socket buffer, 0 = the OS default (autotuned)"
    )
    upload_rate_limit: int = Field(0, ge=0, description="bytes/s, 0 = unlimited")
    download_rate_limit: int = Field(0, ge=0, description="bytes/s, 0 = unlimited")
    limit_local_peers: bool = Field(
        False, description="apply the rate limits to LAN/loopback peers too"
    )
    max_index_bytes: int = Field(
        16 * MIB, gt=0, description="largest `index` file a member accepts from a torrent"
    )
    max_data_bytes: int = Field(
        64 * GIB, gt=0, description="largest `data` file a member accepts from a torrent"
    )
    max_archive_bytes: int = Field(
        256 * MIB, gt=0, description="largest single archive read into memory for import"
    )
    min_free_disk_bytes: int = Field(
        64 * MIB, ge=0, description="free space kept on the disk beyond what an archive needs"
    )

    @field_validator("listen_interface", "peer_hint_host")
    @classmethod
    def _ip(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ipaddress.ip_address(value)
            except ValueError:
                raise ValueError(f"{value!r} is not an IP address") from None
        return value

    @classmethod
    def loopback(cls, **overrides: Any) -> TorrentSettings:
        """Settings for a node that must never leave 127.0.0.1."""
        base: dict[str, Any] = {
            "listen_interface": "127.0.0.1",
            "announce": [],
            "enable_dht": False,
            "enable_lsd": False,
            "enable_upnp": False,
            "enable_natpmp": False,
            "loopback_only": True,
            "magnet_peer_hints": True,
        }
        base.update(overrides)
        return cls(**base)
