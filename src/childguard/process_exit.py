"""Leaving the process once a command's work is done, without native teardown.

Arrow's C++ thread pools, destroyed at interpreter exit while one of their threads is still
alive, now and then abort the process ("terminate called without an active exception",
exit -6; apache/arrow#34314) after every output was written. A user sees a failed command
and a script sees a crash, for work that succeeded. `exit_process` runs Python's own
clean-up (atexit handlers, logging, stdio) and then leaves with `os._exit`, which skips the
C++ static destructors where the abort happens.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys
from typing import NoReturn


def exit_code(code: object) -> int:
    """SystemExit.code -> an exit status (a message is printed, as Python does, and is 1)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def exit_process(code: object = 0) -> NoReturn:
    """Run Python-level clean-up, flush, and leave with `code` (see the module docstring)."""
    status = exit_code(code)
    try:
        atexit._run_exitfuncs()
        logging.shutdown()
    finally:
        for stream in (sys.stdout, sys.stderr):
            # a closed pipe or stream has nothing left to flush
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(status)
