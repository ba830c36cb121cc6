import sys

from riskapp_ci.cli import main

sys.exit(main())
