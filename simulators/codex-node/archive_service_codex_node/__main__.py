"""`python -m archive_service_codex_node --data-dir D --api-port P …`"""

from archive_service_codex_node.cli import main

main()
