"""`python -m vitcore ...` runs the command line."""

import sys

from vitcore.cli import main

sys.exit(main())
