"""``python -m jarvl``: the ``jarvl`` command."""

import sys

from jarvl.cli.main import main

sys.exit(main())
