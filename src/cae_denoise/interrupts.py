"""Ctrl-C and SIGTERM, handled alike: one exception for both, and a way to let a training step finish first.

SIGTERM (``kill``, a job scheduler, a container stopping) would otherwise end the process at once, leaving a
temporary file, a lock and a run's last epoch behind. ``terminate_as_interrupt`` (the CLI, around every command)
makes it raise ``Interrupted``, a ``KeyboardInterrupt``, so the same cleanup runs as for Ctrl-C: temporary files
removed, locks released, a training run's state saved. ``deferred_interrupts`` (the training loop) holds either
signal until the next step boundary. Signal handlers can only be set in the main thread; elsewhere both change
nothing.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

#: The signals handled as a request to stop cleanly.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) or SIGTERM. ``saved`` is the resumable checkpoint a training run wrote on the way out, if
    it wrote one."""

    def __init__(self, signal_number: int = signal.SIGINT, saved: Path | None = None) -> None:
        super().__init__(signal.Signals(signal_number).name)
        self.signal_number = int(signal_number)
        self.saved = saved

    @property
    def exit_code(self) -> int:
        """The shell's convention: 128 + the signal's number (130 for Ctrl-C, 143 for SIGTERM)."""
        return 128 + self.signal_number

    @property
    def word(self) -> str:
        return "terminated" if self.signal_number == signal.SIGTERM else "interrupted"


def as_interrupted(error: KeyboardInterrupt, saved: Path | None = None) -> Interrupted:
    """``error`` as an ``Interrupted`` (a plain ``KeyboardInterrupt`` is Ctrl-C), with ``saved`` set if given."""
    return Interrupted(getattr(error, "signal_number", signal.SIGINT), saved or getattr(error, "saved", None))


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _restore(previous: dict[int, object]) -> None:
    for number, handler in previous.items():
        signal.signal(number, handler if handler is not None else signal.SIG_DFL)


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises ``Interrupted(SIGTERM)`` in the main thread, as Ctrl-C raises
    ``KeyboardInterrupt``."""
    if not _in_main_thread():
        yield
        return

    def handler(number: int, frame: object) -> None:
        raise Interrupted(number)

    previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, handler)}
    try:
        yield
    finally:
        _restore(previous)


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[Callable[[], int | None]]:
    """Hold Ctrl-C and SIGTERM until the caller checks, so that a saved state is never half a step.

    Yields a function returning the signal received so far (``signal.SIGINT`` or ``SIGTERM``), or None; a second
    signal interrupts at once.
    """
    received: list[int] = []
    if not _in_main_thread():
        yield lambda: None
        return

    def handler(number: int, frame: object) -> None:
        if received:
            raise Interrupted(number)
        received.append(number)

    previous = {number: signal.signal(number, handler) for number in STOP_SIGNALS}
    try:
        yield lambda: received[0] if received else None
    finally:
        _restore(previous)
