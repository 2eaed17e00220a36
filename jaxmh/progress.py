"""A progress bar between compiled chunks, quiet when nobody is watching."""

from __future__ import annotations

import os
import sys

__all__ = ["Progress", "wanted"]


def wanted(progress: bool | None) -> bool:
    """Resolve ``progress=None`` (auto): on in a terminal, off when not a TTY or ``CI`` is set."""
    if progress is not None:
        return bool(progress)
    if os.environ.get("CI"):
        return False
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class Progress:
    """Steps done out of ``total``; draws a ``tqdm`` bar on stderr when enabled."""

    def __init__(self, total: int, enabled: bool, desc: str = "sampling") -> None:
        self.total, self.done, self._bar = total, 0, None
        if enabled:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc=desc, unit="step", leave=False, file=sys.stderr)

    def update(self, done: int) -> None:
        """Report that ``done`` steps (cumulative) have run."""
        if self._bar is not None and done > self.done:
            self._bar.update(done - self.done)
        self.done = max(self.done, done)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
