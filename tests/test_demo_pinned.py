"""The demo's archive IDs and links for a fixed seed, pinned: restructuring the code must not
change a byte of what an owner publishes (values taken before the layering rework)."""

import re
from pathlib import Path

import pytest
from archive_service_cli.demo import run_demo

from archive_service.events import ArchiveEvent, HistoryArchiveImported, HistoryArchivesSeeding

PINNED = {
    "torrent": (
        "magnet:?xt=urn:btih:12338018a957c1598fc6937884aab926eb04f3f3"
        "&dn=0x02d8735e36dcf49a3f58324627753257d68a9acb50df579c8906989a42ee1e7efb",
        [
            "0x0665ad700394fa492f7ad022a869309bc3583409065a1b45a8b561cc018bde8e",
            "0x0ee3fe0bff8a4367e38d0f325fbf16b9aa5fc83e4bf3d3133f8f2b09394e9082",
            "0x0ffa018d69e658b8eebaa6d230f453324b115b49fbac71701c2aafe0218e7f35",
            "0x9ad5a48517ea6b27a5c7ad6bcacc9174a31e33f6cb83bc03e1439d84309c6696",
            "0xde4802930918501fd132b79841058defc0c470cc103ec4c7cc7a2aa994d8774c",
        ],
    ),
    "codex": (
        "zDvZRwzmDvjnzFHxLLQWWPA6vXV8NpqZaKZv4vFUdjQY7HYvPLCJ",
        [
            "0x23322059ef3e5562bec03ab081a36f14d167c0536af27cd5ef816e78beaaabae",
            "0x532133b20bc07d24a6a01bf497bccbde0f772fc1be20f416c3c31d1ec8d9556a",
            "0x6465f528c7cdeb9d2c7adb29f76b4451736dfad4a8c5b11e6629994faef9c88f",
            "0x74eb53a7f1a214d158a8409a86006f3842323c10310d221fb40a122969f3f377",
            "0xddb702776a86cf40d03f46cf55cc463495b351d8408b1c940b2b0757418feab8",
        ],
    ),
}


@pytest.mark.parametrize("backend", sorted(PINNED))
async def test_demo_publishes_the_pinned_archives_and_link(backend: str, tmp_path: Path) -> None:
    links: list[str] = []
    imported: list[str] = []

    def on_event(node: str, event: ArchiveEvent) -> None:
        if isinstance(event, HistoryArchivesSeeding) and event.link:
            # x.pe peer hints carry this run's port; everything else is content-addressed.
            links.append(re.sub(r"&x\.pe=[^&]*", "", event.link))
        if isinstance(event, HistoryArchiveImported):
            imported.append(event.archive_id)

    result = await run_demo(
        tmp_path,
        backends=(backend,),
        preference=(backend,),
        messages=3000,
        days=29,
        seed=11,
        on_event=on_event,
    )
    link, archive_ids = PINNED[backend]
    assert result.identical
    assert set(links) == {link}
    assert sorted(imported) == archive_ids
