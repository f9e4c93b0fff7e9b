"""`python -m archive_service_cli` is the `archive-service` command."""

from archive_service_cli.cli import main

main()
