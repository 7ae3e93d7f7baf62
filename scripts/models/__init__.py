"""The models of the catalog and the lock: `snap2prod models ...` (``command``) over a plain library (``library``).

Other commands (promote's mirror step) use ``library``, never ``command``.
"""

from scripts.models.command import register

__all__ = ["register"]
