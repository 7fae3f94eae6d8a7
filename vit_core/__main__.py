"""``python -m vit_core``: see vit_core.cli."""

import sys

from .cli import main

sys.exit(main())
