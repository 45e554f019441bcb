"""Entry point: `python3 tests/lab/nslab` (what tests/lab/lab runs)."""

import os
import sys

if not __package__:
    # run as a directory: make the package importable by its name
    sys.path[0] = os.path.dirname(os.path.abspath(sys.path[0]))

from nslab.cli import main  # noqa: E402  pylint: disable=wrong-import-position

sys.exit(main())
