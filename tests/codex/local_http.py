"""The one way the Codex tests start an aiohttp server of their own (a scripted node, a proxy
that lies or corrupts): on 127.0.0.1 at a port the system picks."""

from __future__ import annotations

from typing import Any

from aiohttp import web


async def serve(app: web.Application, **runner_options: Any) -> tuple[web.AppRunner, str]:
    """Start `app`; its runner (`cleanup()` stops it) and its base URL, `http://127.0.0.1:port`."""
    runner = web.AppRunner(app, **runner_options)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"
