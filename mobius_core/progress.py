"""Progress bars for long work (tqdm, on stderr): what is being done, how far it is and the
time left. Shown only when stderr is a terminal, so that logs, pipes and CI get nothing.
Imports no torch.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TextIO, TypeVar

from tqdm import tqdm

T = TypeVar("T")


class Progress:
    """One bar: `doing` names the step under way, `done` counts it finished, `say` prints a
    line to stdout above the bar without breaking it."""

    def __init__(self, bar: tqdm) -> None:
        self._bar = bar

    def doing(self, text: str) -> None:
        self._bar.set_postfix_str(text)

    def done(self, steps: int = 1) -> None:
        self._bar.update(steps)

    def say(self, line: str) -> None:
        if self._bar.disable:
            print(line)
        else:
            self._bar.write(line, file=sys.stdout)


def shown(stream: TextIO) -> bool:
    """Whether a bar on `stream` would be seen: only on a terminal."""
    return hasattr(stream, "isatty") and stream.isatty()


@contextmanager
def progress(total: int | None, what: str, stream: TextIO | None = None) -> Iterator[Progress]:
    """A bar of `total` steps labelled `what` on `stream` (stderr), drawn only on a terminal;
    it is removed when the work ends."""
    stream = sys.stderr if stream is None else stream
    bar = tqdm(total=total, desc=what, file=stream, disable=not shown(stream), leave=False)
    try:
        yield Progress(bar)
    finally:
        bar.close()


def tracked(
    items: Iterable[T],
    what: str,
    name: Callable[[T], str] = str,
    total: int | None = None,
    stream: TextIO | None = None,
) -> Iterator[T]:
    """`items`, one by one, with a bar that names the item under way (`name(item)`)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with progress(total, what, stream) as bar:
        for item in items:
            bar.doing(name(item))
            yield item
            bar.done()
