"""Process-level set-up for the command line: keep TensorFlow's native start-up chatter off the user's stderr.

TensorFlow's C++ core logs a few INFO lines through absl *before* absl is initialised, which ignores
``TF_CPP_MIN_LOG_LEVEL``. The CLI promises one clear line per problem on stderr, so the import runs with file
descriptor 2 pointed at /dev/null. Python exceptions still propagate (they are printed after fd 2 is restored).
"""

from __future__ import annotations

import os
import sys


def import_tensorflow_quietly() -> None:
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
