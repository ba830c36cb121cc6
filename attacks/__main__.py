"""`python -m attacks ...`: the engine's command line."""

import sys

from attacks.cli import main

sys.exit(main())
