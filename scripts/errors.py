"""The CLI's error family: every error a command shows to a person derives from ``CliError``.

``CliError`` is an ``app.errors.Snap2ProdError``, so `snap2prod` catches one base (the vision core's errors and
the commands' errors alike) and prints it as one message. ``exit_code`` is a class constant (immutable); anything
an error carries beyond its message is set per instance in ``__init__``, never as a mutable class attribute.
This module imports nothing but app.errors, so `python3 -m scripts.toolchain` still runs before the venv exists.
"""

from __future__ import annotations

from app.errors import Snap2ProdError


class CliError(Snap2ProdError):
    """Base of the errors snap2prod's commands raise; ``exit_code`` is what the command returns."""

    exit_code: int = 1
