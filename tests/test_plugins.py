"""The pluggy plugin manager: entry-point loading, backend factories, events, `plugins` CLI."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from archive_service_cli.hookspecs import (
    APPLICATION_HOOKS,
    LoopbackProvider,
    with_application_hooks,
)
from archive_service_cli.lab import loopback_providers
from pydantic import BaseModel, ConfigDict

from archive_service import noop
from archive_service import plugins as plugins_module
from archive_service.config import Config
from archive_service.crypto.hashratchet import HashRatchet
from archive_service.errors import ArchiveNotFoundError, ConfigError
from archive_service.events import ArchiveEvent, CreatingHistoryArchives
from archive_service.hookspecs import PROJECT, hookimpl
from archive_service.host import StoreImporter
from archive_service.interface import BackendContext, BackendFactory
from archive_service.node import ArchiveNode
from archive_service.noop import NoopBackend
from archive_service.plugins import (
    backend_factories,
    entry_point_plugins,
    event_emitter,
    plugin_manager,
    require_backends,
    with_backend_defaults,
)
from archive_service.store import Store

CID = bytes([2]) + bytes(32)


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    port: int = 0


class _Plugin:
    """A real plugin object, registered directly as a host or test would."""

    def __init__(self, name: str, settings_model: type[BaseModel] | None = None) -> None:
        self.name = name
        self.settings_model = settings_model
        self.events: list[ArchiveEvent] = []

    @hookimpl
    def archive_backend_factories(self) -> list[BackendFactory]:
        return [
            BackendFactory(
                name=self.name,
                description="test backend",
                backend_class=NoopBackend,
                settings_model=self.settings_model,
            )
        ]

    @hookimpl
    def archive_event(self, event: ArchiveEvent) -> None:
        self.events.append(event)


@pytest.fixture
def context(tmp_path: Path) -> Iterator[BackendContext]:
    with Store(tmp_path / "node.sqlite") as store:
        yield BackendContext(
            data_dir=tmp_path / "backend",
            store=store,
            crypto=HashRatchet(store),
            emit=lambda e: None,
        )


def test_noop_is_registered_as_an_entry_point() -> None:
    (ep,) = [e for e in entry_points(group=PROJECT) if e.name == "noop"]
    assert ep.value == "archive_service.noop"
    assert ep.dist is not None and ep.dist.name == "archive-service"


def test_noop_loads_through_the_entry_point() -> None:
    pm = plugin_manager()
    assert pm.get_plugin("noop") is noop  # loaded by load_setuptools_entrypoints
    assert any(dist.project_name == "archive-service" for _, dist in pm.list_plugin_distinfo())
    factory = backend_factories(pm)["noop"]
    assert factory.backend_class is NoopBackend
    assert factory.name == "noop" and factory.description


def test_without_entry_points_only_given_plugins() -> None:
    assert backend_factories(plugin_manager(load_entrypoints=False)) == {}
    pm = plugin_manager(load_entrypoints=False, plugins=[_Plugin("alpha")])
    assert list(backend_factories(pm)) == ["alpha"]


def test_two_plugins_with_one_backend_name() -> None:
    pm = plugin_manager(plugins=[_Plugin("noop")])
    with pytest.raises(ConfigError, match="two plugins register a backend named 'noop'"):
        backend_factories(pm)


def test_require_backends() -> None:
    pm = plugin_manager(load_entrypoints=False, plugins=[_Plugin("alpha"), _Plugin("beta")])
    assert list(require_backends(pm, ["beta", "alpha"])) == ["beta", "alpha"]  # caller's order
    with pytest.raises(ConfigError) as info:
        require_backends(pm, ["alpha", "gamma", "delta"])
    text = str(info.value)
    assert "gamma, delta not installed" in text
    assert "available: alpha, beta" in text and "archive-service plugins" in text
    empty = plugin_manager(load_entrypoints=False)
    with pytest.raises(ConfigError, match="available: none"):
        require_backends(empty, ["noop"])


def test_event_emitter_reaches_every_observer() -> None:
    first, second = _Plugin("a"), _Plugin("b")
    emit = event_emitter(plugin_manager(load_entrypoints=False, plugins=[first, second]))
    event = CreatingHistoryArchives(community_id="0x" + CID.hex(), backend="a")
    emit(event)
    assert first.events == [event] and second.events == [event]


def test_factory_validates_backend_settings(context: BackendContext) -> None:
    pm = plugin_manager(load_entrypoints=False, plugins=[_Plugin("alpha", _Settings)])
    factory = backend_factories(pm)["alpha"]
    backend = factory.create(context, {"port": "9025"})
    assert backend.settings == _Settings(port=9025)
    assert factory.create(context, None).settings == _Settings()
    with pytest.raises(ConfigError, match=r"unknown key 'backend\.alpha\.prot'"):
        factory.create(context, {"prot": 1})
    with pytest.raises(ConfigError, match=r"backend\.alpha\.port: Input should be a valid int"):
        factory.create(context, {"port": "many"})


def test_noop_backend_does_nothing(context: BackendContext) -> None:
    async def run() -> None:
        backend = backend_factories(plugin_manager())["noop"].create(context, None)
        assert backend.settings is None and not backend.is_started
        await backend.start()
        assert backend.is_started
        assert not NoopBackend.handles_link("magnet:?xt=urn:btih:" + "0" * 40)
        publication = await backend.open_publication(CID, encrypt=False)
        result = await publication.commit()
        assert result.link is None and result.archive_ids == []
        assert backend.current_link(CID) is None
        info = await backend.download_history_archives(CID, "zLink", asyncio.Event())
        assert info.total_archives == 0 and not info.cancelled
        assert await backend.read_index(CID) == []
        with pytest.raises(ArchiveNotFoundError, match="no-op backend"):
            await backend.load_archive_messages(CID, "zLink", "0x00")
        await backend.stop()
        assert not backend.is_started

    asyncio.run(run())


def test_cli_plugins_lists_installed_backends() -> None:
    run = subprocess.run(
        [str(Path(sys.executable).with_name("archive-service")), "plugins"],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
    )
    assert run.returncode == 0, run.stderr
    rows = {line.split("│")[1].strip(): line for line in run.stdout.splitlines() if "│" in line}
    assert "archive_service.noop" in rows["noop"]
    assert "ArchiveManagerNop" in rows["noop"]
    assert set(backend_factories(plugin_manager())) <= set(rows)  # every installed backend
    assert "archive_service_codex.backend" in rows["logos-storage"] and "codex" not in rows


# The application's hooks (archive_service_cli.hookspecs) -----------------------------------
INSTALLED_PLUGINS = sorted(ep.name for ep in entry_points(group=PROJECT))


@pytest.mark.parametrize("name", INSTALLED_PLUGINS)
def test_loading_a_plugin_imports_no_application_code(name: str) -> None:
    # A fresh interpreter: only what loading this one entry point imports is in sys.modules.
    code = (
        "import sys\n"
        "from importlib.metadata import entry_points\n"
        f"(ep,) = [e for e in entry_points(group={PROJECT!r}) if e.name == {name!r}]\n"
        "ep.load()\n"
        "print(sorted(m for m in sys.modules if m.partition('.')[0] == 'archive_service_cli'))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]", f"loading plugin {name!r} imported {run.stdout.strip()}"


def test_plugins_pass_check_pending_without_the_application_hooks() -> None:
    pm = plugin_manager()
    assert {"torrent", "codex"} <= {name for name, _ in pm.list_name_plugin()}
    for hook in APPLICATION_HOOKS:  # the library alone does not know them
        caller = getattr(pm.hook, hook, None)
        assert caller is None or caller.spec is None
    pm.check_pending()  # plugins implement them as optional hooks

    assert with_application_hooks(with_application_hooks(pm)) is pm  # added once
    pm.check_pending()
    assert all(getattr(pm.hook, hook).spec is not None for hook in APPLICATION_HOOKS)
    assert pm.hook.archive_inspect.spec.opts["firstresult"]


def test_loopback_providers_match_the_protocol_by_shape() -> None:
    providers = loopback_providers()
    assert {"torrent", "logos-storage"} <= set(providers)
    for backend, provider in providers.items():
        assert isinstance(provider, LoopbackProvider) and provider.backend == backend
        # Structural: the plugin's class derives from nothing of the application.
        bases = [cls.__module__ for cls in type(provider).__mro__]
        assert not [m for m in bases if m.startswith("archive_service_cli")], bases


# --- loading rules ---------------------------------------------------------------------------


class _Misspelt:
    @hookimpl
    def archive_backend_factory(self) -> list[BackendFactory]:  # the spec is ..._factories
        return []


class _OptionalUnknown:
    @hookimpl(optionalhook=True)
    def archive_some_application_hook(self) -> None:
        return None


class _WrongArgument:
    @hookimpl
    def archive_event(self, evnt: ArchiveEvent) -> None:  # the spec's argument is `event`
        return None


def test_hookimpl_with_an_unknown_argument_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"invalid plugin _WrongArgument: .*'evnt'") as info:
        plugin_manager(load_entrypoints=False, plugins=[_WrongArgument()])
    assert "\n" not in str(info.value)


def test_misspelt_hookimpl_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown hook 'archive_backend_factory'") as info:
        plugin_manager(load_entrypoints=False, plugins=[_Misspelt()])
    assert "\n" not in str(info.value)
    # An optional hook (one an application specifies) is not an error without its spec.
    plugin_manager(load_entrypoints=False, plugins=[_OptionalUnknown()])


class _HostImporter:
    def __init__(self) -> None:
        self.calls = 0

    @hookimpl
    def archive_messages_import(self, community_id: bytes, messages: list[object]) -> int:
        self.calls += 1
        return 42


@pytest.mark.parametrize("host_first", [True, False])
def test_host_importer_wins_over_the_embedded_one(tmp_path: Path, host_first: bool) -> None:
    with Store(tmp_path / "node.sqlite") as store:
        embedded, host = StoreImporter(store), _HostImporter()
        order = [host, embedded] if host_first else [embedded, host]
        pm = plugin_manager(load_entrypoints=False, plugins=order)
        assert pm.hook.archive_messages_import(community_id=CID, messages=[]) == 42
        assert host.calls == 1
        # Alone, the embedded importer answers (0 new messages).
        alone = plugin_manager(load_entrypoints=False, plugins=[StoreImporter(store)])
        assert alone.hook.archive_messages_import(community_id=CID, messages=[]) == 0


def test_entry_points_are_loaded_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    scans = 0
    real = plugins_module.importlib.metadata.distributions

    def counting() -> object:
        nonlocal scans
        scans += 1
        return real()

    monkeypatch.setattr(plugins_module.importlib.metadata, "distributions", counting)
    entry_point_plugins.cache_clear()
    try:
        first, second = plugin_manager(), plugin_manager()
    finally:
        monkeypatch.undo()
    assert scans == 1
    assert first is not second  # each node its own manager, the same plugin modules
    assert first.get_plugin("noop") is second.get_plugin("noop") is noop


def test_backend_defaults_follow_what_is_installed() -> None:
    only_noop = plugin_manager(load_entrypoints=False, plugins=[noop])
    config = with_backend_defaults(Config(), backend_factories(only_noop))
    assert config.enabled == ["noop"]
    assert config.owner.distribution == ["noop"] and config.member.preference == ["noop"]

    pm = plugin_manager(plugins=[_Plugin("alpha")])  # noop, torrent, codex and alpha
    names = with_backend_defaults(Config(), backend_factories(pm)).enabled
    assert names is not None and "noop" not in names and "alpha" in names
    explicit = Config(enabled=["noop"])
    assert with_backend_defaults(explicit, backend_factories(pm)).enabled == ["noop"]


def test_a_node_starts_with_only_the_noop_backend(tmp_path: Path) -> None:
    async def run() -> None:
        node = ArchiveNode.open(
            Config(data_dir=tmp_path / "node"), load_entrypoints=False, plugins=[noop]
        )
        await node.start()
        try:
            assert list(node.backends) == ["noop"]
        finally:
            await node.stop()

    asyncio.run(run())
