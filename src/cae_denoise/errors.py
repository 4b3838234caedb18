"""The exception types for mistakes a user can cause: bad input (files, checkpoints) and bad usage (options)."""


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
