"""`python -m archive_service` is the `archive-service` command."""

from archive_service.cli import main

main()
