"""Config: TOML file, ARCHIVE_SERVICE_* environment, overrides; errors name the dotted key."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, Field, model_validator

from archive_service.config import (
    WEEK,
    Config,
    env_overrides,
    load_config,
    validate_backend_settings,
)
from archive_service.errors import ConfigError
from archive_service.plugins import backend_factories, plugin_manager, with_backend_defaults

NO_ENV: dict[str, str] = {}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "archive-service.toml"
    path.write_text(text)
    return path


def test_defaults() -> None:
    cfg = load_config(environ=NO_ENV)
    assert cfg == Config()
    assert cfg.owner.interval == WEEK
    # Backends left unset follow what is installed (here: noop, torrent and logos-storage).
    assert cfg.enabled is None and cfg.owner.distribution is None and cfg.member.preference is None
    resolved = with_backend_defaults(cfg, backend_factories(plugin_manager()))
    assert resolved.enabled == ["torrent", "logos-storage"]
    assert resolved.owner.distribution == ["torrent"]
    assert resolved.member.preference == ["logos-storage", "torrent"]
    assert cfg.import_.initial_delay == 300.0 and cfg.import_.chunk_size == 10
    assert cfg.timeouts.index == 20.0
    assert cfg.database == Path("archive-data") / "archive-service.sqlite"
    assert cfg.backend_dir("codex") == Path("archive-data") / "codex"


def test_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        data_dir = "/var/lib/archives"
        enabled = ["codex"]
        [owner]
        distribution = ["torrent", "codex"]
        interval = 3600
        [import]
        fast = true
        chunk_size = 50
        [backend.torrent]
        listen_port = 9025
        """,
    )
    cfg = load_config(path, environ=NO_ENV)
    assert cfg.data_dir == Path("/var/lib/archives")
    assert cfg.enabled == ["codex"]
    assert cfg.owner.distribution == ["torrent", "codex"]
    assert cfg.owner.interval == 3600
    assert cfg.import_.fast is True and cfg.import_.chunk_size == 50
    assert cfg.backend == {"torrent": {"listen_port": 9025}}
    assert cfg.timeouts.archive == 60.0  # untouched sections keep their defaults


def test_environment(tmp_path: Path) -> None:
    env = {
        "ARCHIVE_SERVICE_DATA_DIR": "/srv/a",
        "ARCHIVE_SERVICE_OWNER__INTERVAL": "120",
        "ARCHIVE_SERVICE_IMPORT__FAST": "true",
        "ARCHIVE_SERVICE_MEMBER__PREFERENCE": '["torrent", "codex"]',
        "ARCHIVE_SERVICE_BACKEND__TORRENT__LISTEN_PORT": "9025",
        "ARCHIVE_SERVICE_BACKEND__CODEX__API": "http://127.0.0.1:8080/api/codex/v1",
        "UNRELATED_OWNER__INTERVAL": "5",  # other prefixes are ignored
    }
    cfg = load_config(environ=env)
    assert cfg.data_dir == Path("/srv/a")
    assert cfg.owner.interval == 120.0
    assert cfg.import_.fast is True
    assert cfg.member.preference == ["torrent", "codex"]
    # backend sections are free-form here; the backend's own model converts them later
    assert cfg.backend["torrent"] == {"listen_port": "9025"}
    assert cfg.backend["codex"] == {"api": "http://127.0.0.1:8080/api/codex/v1"}


@pytest.mark.parametrize(
    "env",
    [
        {"ARCHIVE_SERVICE_BACKEND__CODEX__API": "storage-v1"},
        {"ARCHIVE_SERVICE_BACKEND__LOGOS_STORAGE__API": "storage-v1"},
    ],
)
def test_codex_in_a_config_means_logos_storage(tmp_path: Path, env: dict[str, str]) -> None:
    # Configs written before the rename keep working: every `codex` resolves to the new name.
    path = write(
        tmp_path,
        """
        enabled = ["torrent", "codex"]
        [owner]
        distribution = ["codex"]
        [member]
        preference = ["codex", "torrent"]
        """,
    )
    cfg = with_backend_defaults(load_config(path, environ=env), backend_factories(plugin_manager()))
    assert cfg.enabled == ["torrent", "logos-storage"]
    assert cfg.owner.distribution == ["logos-storage"]
    assert cfg.member.preference == ["logos-storage", "torrent"]
    assert list(cfg.backend) == ["logos-storage"]
    assert cfg.backend["logos-storage"]["api"] == "storage-v1"


def test_settings_under_both_names_are_a_config_error(tmp_path: Path) -> None:
    path = write(tmp_path, '[backend.codex]\napi = "codex-v1"\n')
    config = load_config(path, environ={"ARCHIVE_SERVICE_BACKEND__LOGOS_STORAGE__API": "auto"})
    with pytest.raises(ConfigError, match=r"'logos-storage' are given twice.*keep one section"):
        with_backend_defaults(config, backend_factories(plugin_manager()))


def test_numeric_looking_strings_stay_strings() -> None:
    # A TOML parse of every value would turn a path "2024" into an int and reject it.
    cfg = load_config(environ={"ARCHIVE_SERVICE_DATA_DIR": "2024"})
    assert cfg.data_dir == Path("2024")
    assert env_overrides({"ARCHIVE_SERVICE_BACKEND__CODEX__TOKEN": "0012"}) == {
        "backend": {"codex": {"token": "0012"}}
    }


def test_environment_arrays_and_multiline_values() -> None:
    assert env_overrides({"ARCHIVE_SERVICE_ENABLED": '["codex"]'}) == {"enabled": ["codex"]}
    # A value that is more than one TOML value is kept whole, never half-read.
    assert env_overrides({"ARCHIVE_SERVICE_ENABLED": '["codex"]\nowner = 1'}) == {
        "enabled": '["codex"]\nowner = 1'
    }
    with pytest.raises(ConfigError, match="enabled"):
        load_config(environ={"ARCHIVE_SERVICE_ENABLED": '["codex"]\nx = 1'})


def test_precedence_overrides_env_file_defaults(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        max_download_concurrency = 2
        [owner]
        interval = 100
        [timeouts]
        index = 5
        archive = 6
        """,
    )
    env = {"ARCHIVE_SERVICE_OWNER__INTERVAL": "200", "ARCHIVE_SERVICE_TIMEOUTS__INDEX": "7"}
    cfg = load_config(path, environ=env, overrides={"owner.interval": 300})
    assert cfg.owner.interval == 300  # override beats env beats file
    assert cfg.timeouts.index == 7  # env beats file
    assert cfg.timeouts.archive == 6  # file beats default, and sibling keys merge
    assert cfg.max_download_concurrency == 2
    assert cfg.timeouts.download == 3600.0  # default


def test_env_merges_into_file_backend_table(tmp_path: Path) -> None:
    path = write(tmp_path, '[backend.torrent]\nlisten_interface = "127.0.0.1"\n')
    env = {"ARCHIVE_SERVICE_BACKEND__TORRENT__LISTEN_PORT": "7000"}
    cfg = load_config(path, environ=env)
    assert cfg.backend["torrent"] == {"listen_interface": "127.0.0.1", "listen_port": "7000"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"overrides": {"owner.intervall": 5}}, "unknown key 'owner.intervall'"),
        ({"overrides": {"colour": "blue"}}, "unknown key 'colour'"),
        ({"environ": {"ARCHIVE_SERVICE_IMPORT__SPEED": "3"}}, "unknown key 'import.speed'"),
        ({"overrides": {"owner.interval": 0}}, "owner.interval: Input should be greater than 0"),
        ({"overrides": {"import.chunk_size": "many"}}, "import.chunk_size: "),
        ({"environ": {"ARCHIVE_SERVICE_IMPORT__FAST": "maybe"}}, "import.fast: "),
        ({"overrides": {"enabled": ["torrent", 3]}}, "enabled: Input should be a valid string"),
        ({"overrides": {"backend.torrent": 5}}, "backend.torrent: Input should be a valid dict"),
        ({"overrides": {"owner": 3}}, "owner: "),
        ({"overrides": {"owner..interval": 1}}, "'owner..interval': empty segment"),
        ({"environ": {"ARCHIVE_SERVICE_OWNER____INTERVAL": "1"}}, "empty segment"),
    ],
)
def test_errors_name_the_key(kwargs: dict[str, object], message: str) -> None:
    kwargs.setdefault("environ", NO_ENV)
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("(", r"\(")):
        load_config(**kwargs)  # type: ignore[arg-type]


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(environ=NO_ENV, overrides={"owner.interval": -1, "timeouts.index": 0})
    assert "owner.interval" in str(info.value) and "timeouts.index" in str(info.value)


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml", environ=NO_ENV)
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "owner = [unclosed\n"), environ=NO_ENV)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00junk")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(binary, environ=NO_ENV)
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path, environ=NO_ENV)  # a directory
    with pytest.raises(ConfigError, match=r"unknown key 'owner\.colour'"):
        load_config(write(tmp_path, "[owner]\ncolour = 1\n"), environ=NO_ENV)


def test_validate_assignment() -> None:
    cfg = load_config(environ=NO_ENV)
    with pytest.raises(ValueError, match="greater than 0"):
        cfg.owner.interval = 0


class _BackendSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    listen_port: int = Field(0, ge=0, le=65535)
    loopback_only: bool = False

    @model_validator(mode="after")
    def _not_seven(self) -> _BackendSettings:
        if self.listen_port == 7:
            raise ValueError("port 7 is reserved")
        return self


def test_backend_settings_from_env_strings() -> None:
    cfg = load_config(
        environ={
            "ARCHIVE_SERVICE_BACKEND__TORRENT__LISTEN_PORT": "9025",
            "ARCHIVE_SERVICE_BACKEND__TORRENT__LOOPBACK_ONLY": "true",
        }
    )
    settings = validate_backend_settings("torrent", _BackendSettings, cfg.backend["torrent"])
    assert settings == _BackendSettings(listen_port=9025, loopback_only=True)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"listen_prot": 1}, "unknown key 'backend.torrent.listen_prot'"),
        ({"listen_port": 70000}, "backend.torrent.listen_port: Input should be less than"),
        ({"listen_port": "x"}, "backend.torrent.listen_port: Input should be a valid integer"),
        ({"listen_port": 7}, "backend.torrent: Value error, port 7 is reserved"),
    ],
)
def test_backend_settings_errors_name_the_key(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        validate_backend_settings("torrent", _BackendSettings, settings)
