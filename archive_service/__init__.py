"""status-go community history archives with pluggable BitTorrent and Codex backends."""

__version__ = "0.1.0"
