"""`python -m archive_service_codex.node --data-dir D --api-port P …`"""

import sys

from archive_service_codex.node.cli import run_node_cli

sys.exit(run_node_cli())
