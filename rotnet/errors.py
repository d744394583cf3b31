"""User-facing errors: every message names the problem and the fix."""


class RotnetError(Exception):
    """An error caused by input (params, data, archives, models) rather than a bug.

    Stage scripts print these without a traceback and exit with status 2.
    """
