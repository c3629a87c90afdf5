"""`python -m mobius_core` is the `mobius-bench` command."""

import sys

from mobius_core.cli import main

sys.exit(main())
