"""`python -m attacks ...`: the engine's command line."""

import sys

from attacks.cli import main
from attacks.environment import retain_freed_memory

# This process runs one engine command and exits: let malloc keep freed activations for reuse.
retain_freed_memory()
sys.exit(main())
