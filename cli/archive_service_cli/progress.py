"""Rich progress bars driven by archive events, one bar per (node, phase, backend)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from archive_service.events import (
    ArchiveBuilt,
    ArchiveEvent,
    DownloadingHistoryArchivesStarted,
    HistoryArchiveDownloaded,
    HistoryArchiveImported,
    HistoryArchivesCreated,
    HistoryArchivesDownloadCompleted,
    ImportingHistoryArchiveMessages,
    NoHistoryArchivesCreated,
)


class EventProgress:
    """Feed it events (`on_event(node, event)`); it draws create, download and import bars."""

    def __init__(self, console: Console | None = None, *, enabled: bool = True) -> None:
        self.progress = Progress(
            TextColumn("{task.description:<34}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=not enabled,
            transient=False,
        )
        self._tasks: dict[tuple[str, str, str], TaskID] = {}

    def _bar(self, node: str, phase: str, backend: str, total: int | None = None) -> TaskID:
        key = (node, phase, backend)
        if key not in self._tasks:
            label = f"{node} {phase}" + (f" ({backend})" if backend else "")
            self._tasks[key] = self.progress.add_task(label, total=total)
        elif total is not None:
            self.progress.update(self._tasks[key], total=total)
        return self._tasks[key]

    def on_event(self, node: str, event: ArchiveEvent) -> None:
        match event:
            case ArchiveBuilt():
                task = self._bar(node, "create", "")
                self.progress.advance(task)
            case DownloadingHistoryArchivesStarted():
                self._bar(node, "download", event.backend, total=event.missing_archives)
            case HistoryArchiveDownloaded():
                self.progress.advance(self._bar(node, "download", event.backend))
            case ImportingHistoryArchiveMessages():
                self._bar(node, "import", "")
            case HistoryArchiveImported():
                task = self._bar(node, "import", "")
                done = self.progress.tasks[task].completed + 1
                self.progress.update(task, completed=done, total=done + event.remaining)
            case HistoryArchivesCreated() | NoHistoryArchivesCreated():
                self._finish(self._bar(node, "create", ""))
            case HistoryArchivesDownloadCompleted():
                # A superseded or fully skipped run ends below its announced total.
                self._finish(self._bar(node, "download", event.backend))
            case _:
                pass

    def _finish(self, task: TaskID) -> None:
        self.progress.update(task, total=self.progress.tasks[task].completed)

    def __enter__(self) -> EventProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for task in self.progress.tasks:
            if task.total is None:
                self.progress.update(task.id, total=task.completed)
        self.progress.stop()
