"""Codex backend: one CID per archive plus an index CID, over the Codex REST API."""
