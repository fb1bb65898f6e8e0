"""``python -m core.evaluation emotion|identity ...`` (see :mod:`core.evaluation.cli`)."""

import sys

from core.evaluation.cli import main

sys.exit(main())
