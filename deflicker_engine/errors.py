"""One root exception so callers (CLI, server, nodes) can catch everything the engine means to raise.

Messages are written for the person at the keyboard: say what is wrong and what to do about it.
"""


class DeflickerError(Exception):
    """Root of every error the engine raises on purpose."""


class InputError(DeflickerError):
    """The input cannot be read: missing, unreadable, corrupt, empty, or inconsistent (mixed sizes)."""


class OutputError(DeflickerError):
    """The output cannot be written: same as the input, unwritable folder, unsupported format."""


class ParameterError(DeflickerError):
    """A parameter is out of range or of the wrong type."""


class DeviceError(DeflickerError):
    """The requested compute device is not available."""


class WeightsError(DeflickerError):
    """Shipped network weights are missing or do not match the network."""


class Cancelled(DeflickerError):
    """The caller asked the job to stop; nothing partial was left behind."""
