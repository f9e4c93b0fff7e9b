"""`archive-service inspect` of Codex CIDs and manifests (registered in plugin.py)."""

from __future__ import annotations

from typing import Any

from archive_service.errors import InvalidInputError
from archive_service_codex.cid import (
    BLOCK_CODEC,
    MANIFEST_CODEC,
    TREE_CODEC,
    decode_manifest,
    parse_cid,
)

_CODECS = {MANIFEST_CODEC: "codex-manifest", BLOCK_CODEC: "codex-block", TREE_CODEC: "codex-root"}


def inspect(data: bytes, text: str | None) -> dict[str, Any] | None:
    if text is not None:
        try:
            cid = parse_cid(text.strip())
        except InvalidInputError:
            return None
        return {
            "kind": "cid",
            "cid": cid.text,
            "version": cid.version,
            "codec": _CODECS.get(cid.codec, hex(cid.codec)),
            "digest": cid.digest.hex(),
        }
    try:
        manifest = decode_manifest(data)
    except InvalidInputError:
        return None
    return {
        "kind": "codex-manifest",
        "cid": manifest.cid.text,
        "coder": manifest.coder.value,  # codex | storage (Logos Storage's latest coder)
        **manifest.to_json(),
    }
