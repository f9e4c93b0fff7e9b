"""Scenario TOML: the presets load, and every bad value is refused naming its key."""

from __future__ import annotations

from pathlib import Path

import pytest
from archive_service_cli.compare import CompareSettings
from archive_service_cli.scenario import (
    HistoryShape,
    ScenarioError,
    load_scenario,
    parse_scenario,
    presets,
    with_overrides,
)
from archive_service_cli.swarm import scenario_from_settings


def test_the_presets_of_the_issue() -> None:
    assert presets() == ["large-community", "owner-gone", "small-community"]
    small, large, gone = (load_scenario(n) for n in ("small-community", "large-community",
                                                     "owner-gone"))  # fmt: skip
    assert (small.members, small.shaping.owner_uplink, small.owner_leaves) == (
        5,
        20_000_000,
        "never",
    )
    assert (large.members, large.shaping.owner_uplink) == (20, 10_000_000)
    assert (gone.owner_leaves, gone.late_joiners) == ("after-first-complete", 5)
    assert {s.codex_profile for s in (small, large, gone)} == {"measured-2026-11"}


def test_a_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(
        "[swarm]\nmembers = 4\nchurn = true\n[shaping]\nmember_downlink = 8_000_000\n"
        '[codex]\nprofile = "unthrottled"\n[history]\nmessages = 100\n'
    )
    scenario = load_scenario(path)
    assert scenario.name == "mine" and scenario.members == 4 and scenario.churn
    assert scenario.shaping.for_role("member") == (None, 8_000_000)
    assert scenario.codex_profile == "unthrottled" and scenario.history.messages == 100


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[swarm]\nmembers = 21\n", "swarm.members"),
        ("[swarm]\nmembers = 'five'\n", "swarm.members"),
        ("[swarm]\nmember = 3\n", "swarm.member"),
        ("[swarm]\nowner_leaves = 'sometimes'\n", "swarm.owner_leaves"),
        ("[swarm]\nlate_joiners = 2\n", "swarm.late_joiners"),
        ("[swarm]\nchurn = 1\n", "swarm.churn"),
        ("[shaping]\nowner_uplink = -1\n", "shaping.owner_uplink"),
        ("[shaping]\nowner_uplink = '10M'\n", "shaping.owner_uplink"),
        ("[shaping]\nengine = 'docker'\n", "shaping.engine"),
        ("[codex]\nprofile = 3\n", "codex.profile"),
        ("[history]\nmessages = true\n", "history.messages"),
        ("shaping = 3\n", "shaping"),
        ("nmae = 'x'\n", "nmae"),
    ],
)
def test_errors_name_the_key(text: str, key: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, "test.toml", "test")
    assert key in str(caught.value) and "test.toml" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_unknown_preset_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="small-community"):
        load_scenario("tiny-community")
    bad = tmp_path / "bad.toml"
    bad.write_text("[swarm\n")
    with pytest.raises(ScenarioError, match="not valid TOML"):
        load_scenario(bad)


def test_command_line_overrides_are_checked() -> None:
    scenario = with_overrides(load_scenario("small-community"), members=3, owner_uplink=1_000)
    assert scenario.members == 3 and scenario.shaping.owner_uplink == 1_000
    with pytest.raises(ScenarioError, match=r"swarm\.members"):
        with_overrides(scenario, members=0)


def test_compare_refuses_a_bad_scenario_in_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    cli = Path(sys.executable).with_name("archive-service")
    for args, needle in (
        (["--scenario", "tiny-community"], "small-community"),
        (["--members", "2", "--codex-profile", "nope"], "measured-2026-11"),
        (["--late-joiners", "2"], "swarm.owner_leaves"),
    ):
        done = subprocess.run(
            [str(cli), "compare", *args, "--out", str(tmp_path)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 1, done.stdout + done.stderr
        assert needle in done.stderr and "Traceback" not in done.stdout + done.stderr
        assert "error" not in done.stdout  # stdout carries results only


def test_history_options_given_on_the_command_line_override_a_preset() -> None:
    preset = {"scenario": "large-community"}
    plain = scenario_from_settings(CompareSettings(scenario_options=preset))
    assert plain.history.messages == load_scenario("large-community").history.messages
    given = {"messages": 5000, "seed": 9}
    settings = CompareSettings(
        history=HistoryShape(**given), history_options=given, scenario_options=preset
    )
    chosen = scenario_from_settings(settings)
    assert (chosen.history.messages, chosen.history.seed, chosen.members) == (5000, 9, 20)
    assert chosen.history.days == plain.history.days  # not given: the preset's
