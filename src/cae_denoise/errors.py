"""The exception types for mistakes a user can cause: bad input (files, checkpoints) and bad usage (options)."""

from collections.abc import Iterator
from contextlib import contextmanager


class CaeDenoiseError(Exception):
    """A user-facing error about the input: the message names the file and what is wrong with it.

    The CLI prints it as one red line and exits with code 1; bugs still raise their own types.
    """


class UsageError(CaeDenoiseError):
    """A user-facing error about an option or argument value (the CLI exits with code 2, like its parser)."""


#: The most characters of a value a user typed that a message or title quotes (``shorten``).
QUOTED_VALUE_LIMIT = 80


def shorten(text: str, limit: int = QUOTED_VALUE_LIMIT) -> str:
    """``text`` on one line, at most ``limit`` characters: the start, ``...`` and how many were left out.

    For quoting what a user typed (an option value, a spec) in a message or title: a 100 kB value stays a
    short line instead of a 200 kB error.
    """
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    tail = f"... ({len(text):,} characters)"
    return text[: max(limit - len(tail), 1)] + tail


def one_line(error: BaseException, limit: int = 200) -> str:
    """An exception's message on one short line (whitespace collapsed, at most ``limit`` characters), or its
    type's name when it has none: for quoting a library's error inside our own one-line message."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


#: Words in the messages of OpenCV's and PyTorch's errors when an allocation failed (``cv2.error`` "Insufficient
#: memory" / "Failed to allocate", PyTorch's "DefaultCPUAllocator: can't allocate memory", "CUDA out of memory").
_ALLOCATION_FAILURE_WORDS = ("insufficient memory", "failed to allocate", "can't allocate memory", "out of memory")


def out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` says that memory ran out, whichever library raised it: ``MemoryError`` (NumPy's
    ``_ArrayMemoryError`` is one), ``torch.OutOfMemoryError``, or a PyTorch ``RuntimeError`` or OpenCV
    ``cv2.error`` whose message says an allocation failed. Other runtime errors are bugs and stay what they are."""
    if isinstance(error, MemoryError) or type(error).__name__ == "OutOfMemoryError":
        return True
    if isinstance(error, RuntimeError) or type(error).__module__.split(".")[0] == "cv2":
        text = str(error).lower()
        return any(words in text for words in _ALLOCATION_FAILURE_WORDS)
    return False


@contextmanager
def too_large_if_out_of_memory(label: str, action: str) -> Iterator[None]:
    """Turn memory running out inside the block (``out_of_memory``: NumPy, PyTorch, OpenCV) into the one
    "too large" error (``too_large``); every other error passes unchanged."""
    try:
        yield
    except Exception as error:
        if not out_of_memory(error):
            raise
        raise too_large(label, action) from error


def too_large(label: str, action: str) -> CaeDenoiseError:
    """The one "too large" error, for an allocation that failed: ``LABEL: too large to ACTION in the memory
    available`` (``action``: decode, denoise, encode, hold...)."""
    return CaeDenoiseError(f"{label}: too large to {action} in the memory available")
