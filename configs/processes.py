"""How Hearth starts the children it supervises (the engine, the embedded Redis, the worker and scheduler).

A child must not outlive Hearth, even a SIGKILLed one: Linux's parent-death signal does that. It is set by
``setpriv --pdeathsig`` (util-linux) in front of the command, not by a ``preexec_fn``: a preexec_fn makes
``subprocess`` fork (instead of vfork) and run Python in the child, which can deadlock in a process with
threads (OpenMP, thread pools), and once hung the whole test run here.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Sequence


def dies_with_parent(command: Sequence[str]) -> list[str]:
    """``command``, run so that it gets SIGTERM when the thread that starts it dies (Linux with setpriv);
    ``command`` unchanged elsewhere. The child keeps the pid of the process started."""
    setpriv = shutil.which("setpriv") if sys.platform.startswith("linux") else None
    if setpriv is None:
        return list(command)
    return [setpriv, "--pdeathsig", "TERM", "--", *command]
