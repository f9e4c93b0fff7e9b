"""The application's hooks: how plugins bring their loopback setup, CLI commands and artefact
decoding to the tools. Same pluggy project as the library's hooks, added to a plugin manager
only by the application, so the library never needs typer or the lab. Plugins implement them
with `@hookimpl(optionalhook=True)`: a library-only install still passes `check_pending()`."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import pluggy

from archive_service.hookspecs import PROJECT

if TYPE_CHECKING:
    import typer

hookspec = pluggy.HookspecMarker(PROJECT)


@runtime_checkable
class LoopbackProvider(Protocol):
    """Configures one backend for a node of a loopback run. Plugins match it by shape (an
    attribute `backend` and this method); they never import it."""

    backend: str

    async def node_settings(
        self,
        *,
        role: str,
        name: str,
        workdir: Path,
        stack: contextlib.AsyncExitStack,
        shared: dict[str, Any],
    ) -> dict[str, Any]:
        """Return `[backend.<name>]` settings for node `name` ('owner' or 'member' role).
        Start anything the node needs (e.g. a storage node) and register its shutdown on
        `stack`. `shared` is one dict per run, for handing the owner's addresses to members."""
        ...


APPLICATION_HOOKS = ("archive_inspect", "archive_loopback_providers", "archive_cli_commands")


@hookspec(firstresult=True)
def archive_inspect(data: bytes, text: str | None) -> dict[str, object] | None:
    """Decode a backend-specific artefact (a .torrent, a magnet link, a CID, a manifest) for
    `archive-service inspect`; `text` is the argument when it was given as a string. Return
    None when it is not this backend's format."""


@hookspec
def archive_loopback_providers() -> list[LoopbackProvider]:
    """Return providers that configure this plugin's backends for a run where every node is on
    127.0.0.1 (demo, compare, end-to-end tests): see `archive_service_cli.lab`."""


@hookspec
def archive_cli_commands(app: typer.Typer) -> None:
    """Add this plugin's commands to the `archive-service` CLI (e.g. `codex-node`)."""


def with_application_hooks(pm: pluggy.PluginManager) -> pluggy.PluginManager:
    """Add the application's hookspecs to `pm` (once; a cached manager may come back) and
    return it. Implementations registered before are validated against them now."""
    caller = getattr(pm.hook, APPLICATION_HOOKS[0], None)
    if caller is None or caller.spec is None:
        pm.add_hookspecs(sys.modules[__name__])
    return pm
