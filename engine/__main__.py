"""`python -m engine` is the `ringback` command."""

import sys

from engine.cli import main

sys.exit(main())
