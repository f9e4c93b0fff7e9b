"""The link decisions as a pure function: every gate, its order, and what a decision carries."""

from __future__ import annotations

from dataclasses import replace

import pytest

from archive_service.crypto.signing import LinkMessage
from archive_service.manager.links import (
    HeldLink,
    LinkDecision,
    LinkFacts,
    LinkReason,
    backend_for_link,
    decide_archive_link,
    decide_join_link,
    interrupted_link,
    links_to_resume,
    preference_order,
    refuse_unverified,
    supersedes,
)
from archive_service.store import ArchiveLinkState, Community
from archive_service.types import ArchiveMetadata, DownloadedArchive, IndexEntry

CID = b"\x02" + b"\x11" * 32
MESSAGE = LinkMessage(community_id=CID, clock=100, link="magnet:new")
MEMBER = Community(id=CID, joined=True, archives_enabled=True)
FACTS = LinkFacts(
    community=MEMBER,
    backend="torrent",
    stored=ArchiveLinkState(link="magnet:old", clock=50),
    in_flight=False,
    enabled=["torrent", "codex"],
)


def test_a_new_link_with_a_newer_clock_is_accepted_with_what_to_download() -> None:
    decision = decide_archive_link(MESSAGE, FACTS)
    assert decision == LinkDecision(LinkReason.ACCEPTED, CID, "torrent", "magnet:new", 100)
    assert decision.accepted and decision.detail == ""


def test_an_equal_clock_is_not_old() -> None:
    facts = replace(FACTS, stored=ArchiveLinkState(link="magnet:old", clock=100))
    assert decide_archive_link(MESSAGE, facts).accepted


@pytest.mark.parametrize(
    ("facts", "reason", "backend"),
    [
        (replace(FACTS, community=None), LinkReason.UNKNOWN_COMMUNITY, ""),
        (replace(FACTS, community=replace(MEMBER, private_key=b"k" * 32)), LinkReason.OWNER, ""),
        (replace(FACTS, community=replace(MEMBER, joined=False)), LinkReason.NOT_MEMBER, ""),
        (
            replace(FACTS, community=replace(MEMBER, archives_enabled=False)),
            LinkReason.DISABLED,
            "",
        ),
        (replace(FACTS, backend=None), LinkReason.UNSUPPORTED_LINK, ""),
        (
            replace(FACTS, stored=ArchiveLinkState(link="magnet:old", clock=101)),
            LinkReason.OLD_CLOCK,
            "torrent",
        ),
        (
            replace(FACTS, stored=ArchiveLinkState(link="magnet:new", clock=10)),
            LinkReason.SAME_LINK,
            "torrent",
        ),
        (replace(FACTS, in_flight=True), LinkReason.SAME_LINK, "torrent"),
    ],
)
def test_each_gate_refuses_with_its_reason(
    facts: LinkFacts, reason: LinkReason, backend: str
) -> None:
    decision = decide_archive_link(MESSAGE, facts)
    assert not decision.accepted
    assert decision.reason is reason
    assert (decision.community_id, decision.link, decision.backend) == (CID, "magnet:new", backend)
    assert decision.clock == 0  # only an accepted link's clock is stored


def test_refusals_name_what_the_member_saw() -> None:
    unsupported = decide_archive_link(MESSAGE, replace(FACTS, backend=None))
    assert unsupported.detail == "enabled backends: ['codex', 'torrent']"
    old = decide_archive_link(
        MESSAGE, replace(FACTS, stored=ArchiveLinkState(link="magnet:old", clock=101))
    )
    assert old.detail == "clock 100 < stored 101"
    assert decide_archive_link(MESSAGE, replace(FACTS, in_flight=True)).detail == ""


def test_gates_apply_in_status_gos_order() -> None:
    # An owner's node that is also "not joined", with no backend and an old clock: the first
    # gate that applies is the one reported.
    everything_wrong = LinkFacts(
        community=replace(MEMBER, private_key=b"k" * 32, joined=False, archives_enabled=False),
        backend=None,
        stored=ArchiveLinkState(link="magnet:new", clock=999),
        in_flight=True,
        enabled=[],
    )
    assert decide_archive_link(MESSAGE, everything_wrong).reason is LinkReason.OWNER
    not_joined = replace(everything_wrong, community=replace(MEMBER, joined=False))
    assert decide_archive_link(MESSAGE, not_joined).reason is LinkReason.NOT_MEMBER
    disabled = replace(everything_wrong, community=replace(MEMBER, archives_enabled=False))
    assert decide_archive_link(MESSAGE, disabled).reason is LinkReason.DISABLED
    no_backend = replace(everything_wrong, community=MEMBER)
    assert decide_archive_link(MESSAGE, no_backend).reason is LinkReason.UNSUPPORTED_LINK
    old = replace(no_backend, backend="torrent")
    assert decide_archive_link(MESSAGE, old).reason is LinkReason.OLD_CLOCK


def test_a_join_response_link_needs_only_a_backend() -> None:
    assert decide_join_link(CID, "magnet:x", "torrent") == LinkDecision(
        LinkReason.ACCEPTED, CID, "torrent", "magnet:x"
    )
    refused = decide_join_link(CID, "zz", None)
    assert refused == LinkDecision(LinkReason.UNSUPPORTED_LINK, CID, link="zz")
    assert not refused.accepted


def test_an_unverified_message_is_refused_without_a_community() -> None:
    decision = refuse_unverified("bad signature")
    assert decision == LinkDecision(LinkReason.BAD_SIGNATURE, detail="bad signature")
    assert not decision.accepted


def test_reasons_are_the_event_strings() -> None:
    assert [r.value for r in LinkReason] == [
        "accepted",
        "bad-signature",
        "unknown-community",
        "control-node",
        "not-member",
        "archives-disabled",
        "no-backend-for-link",
        "old-clock",
        "same-link",
        "resumed",
    ]
    assert f"{LinkReason.SAME_LINK}" == "same-link"


def test_the_stored_link_again_resumes_pending_imports_unless_in_flight() -> None:
    stored = replace(FACTS, stored=ArchiveLinkState(link="magnet:new", clock=100))
    assert decide_archive_link(MESSAGE, stored).reason is LinkReason.SAME_LINK
    pending = replace(stored, pending_imports=True)
    decision = decide_archive_link(MESSAGE, pending)
    assert decision == LinkDecision(LinkReason.RESUMED, CID, "torrent", "magnet:new", 100)
    assert decision.accepted
    # An older clock is still refused first; a link in flight is already being worked on.
    older = replace(pending, stored=ArchiveLinkState(link="magnet:new", clock=101))
    assert decide_archive_link(MESSAGE, older).reason is LinkReason.OLD_CLOCK
    busy = replace(pending, in_flight=True)
    assert decide_archive_link(MESSAGE, busy).reason is LinkReason.SAME_LINK
    # In flight because the node resumed that run at start: the message waits for it.
    resumed = replace(FACTS, in_flight=True, resumed_in_flight=True)
    assert decide_archive_link(MESSAGE, resumed).reason is LinkReason.RESUMED


def test_preference_order_puts_enabled_preferred_backends_first() -> None:
    assert preference_order(["codex", "torrent"], ["torrent", "codex"]) == ["codex", "torrent"]
    assert preference_order(["codex", "gone"], ["noop", "torrent", "codex"]) == [
        "codex",
        "noop",
        "torrent",
    ]
    assert preference_order([], ["b", "a"]) == ["b", "a"]


def test_backend_for_link_is_the_first_in_order_that_handles_it() -> None:
    kinds = {"torrent": "magnet:", "codex": "z", "mirror": "magnet:"}

    def handles(name: str, link: str) -> bool:
        return link.startswith(kinds[name])

    assert backend_for_link("magnet:x", ["codex", "mirror", "torrent"], handles) == "mirror"
    assert backend_for_link("magnet:x", ["torrent", "mirror"], handles) == "torrent"
    assert backend_for_link("zQm", ["torrent", "codex"], handles) == "codex"
    assert backend_for_link("http://x", ["torrent", "codex"], handles) is None


def test_a_new_link_supersedes_the_same_or_a_less_preferred_backend() -> None:
    order = ["codex", "torrent"]
    assert supersedes(order, "torrent", "torrent")
    assert supersedes(order, "codex", "torrent")
    assert not supersedes(order, "torrent", "codex")


def _row(archive_id: str, link: str, window: int, backend: str = "torrent") -> DownloadedArchive:
    return DownloadedArchive(archive_id, backend, window * 10, window * 10 + 10, False, link)


def _entry(archive_id: str, window: int) -> IndexEntry:
    return IndexEntry(archive_id, ArchiveMetadata(window * 10, window * 10 + 10, ()), {}, 1)


def test_links_to_resume_are_recorded_links_other_than_the_stored_one() -> None:
    rows = [_row("a", "L1", 1), _row("b", "L2", 3), _row("c", "L2", 2), _row("d", "X", 4, "codex")]
    assert links_to_resume("L1", rows, "torrent") == [("L2", 40)]
    assert links_to_resume("", rows, "torrent") == [("L1", 20), ("L2", 40)]


def test_a_start_resumes_the_link_whose_held_index_lists_what_is_not_recorded() -> None:
    rows = [_row("a", "L1", 1), _row("c", "L2", 3)]
    full = [_entry("a", 1), _entry("b", 2), _entry("c", 3)]
    # L1 was superseded and its windows are covered; L2 stopped with window 2 missing.
    held = [HeldLink("L1", 10, full[:1]), HeldLink("L2", 30, full)]
    assert interrupted_link(held, rows) == "L2"
    # Both held indexes are the same file (torrent keeps one): the newer run wins.
    assert interrupted_link([HeldLink("L1", 10, full), HeldLink("L2", 30, full)], rows) == "L2"
    # A window held through another archive ID (another backend) is not missing.
    other = [*rows, DownloadedArchive("z", "codex", 20, 30, True, "C")]
    assert interrupted_link(held, other) is None
    assert interrupted_link([], rows) is None
