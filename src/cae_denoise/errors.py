"""The one exception type for mistakes a user can cause (bad files, bad options)."""


class CaeDenoiseError(Exception):
    """A user-facing error: the message names the file or option and what to do about it.

    The CLI prints it as one red line and exits with code 1; bugs still raise their own types.
    """
