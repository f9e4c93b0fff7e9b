"""BitTorrent backend: status-go-compatible `index` + `data` torrents on libtorrent."""
