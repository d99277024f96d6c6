"""``python -m iact_tui``: the same as the ``iact-tui`` command."""

import sys

from iact_tui.cli import main

sys.exit(main())
