"""The one bad-input error: what the command line turns into one line and exit status 2.

Raise `BadInput` only for input the user can fix (an option, a config, a file, an output
path). Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class BadInput(ValueError):
    """Input the user gave that cannot be used; its message is one line naming what."""


def is_oom(error: BaseException) -> bool:
    """Whether `error` is the device running out of memory (CUDA or host), without torch."""
    text = str(error)
    return type(error).__name__ == "OutOfMemoryError" or (
        isinstance(error, RuntimeError)
        and ("out of memory" in text or "can't allocate memory" in text)
    )
