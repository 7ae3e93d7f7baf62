"""Promotion (`snap2prod promote`): the identical stack onto a cluster, checked before and after.

Public face: ``promote`` and ``Options`` (run it), ``Report`` and ``print_report`` (what it did), ``watch``,
``merged_values`` and ``effective`` (the values it installs), ``register`` (the CLI). Inside, one module per
step: ``target``, ``values`` (+ ``images``, the digest rule), ``preflight``, ``rollout`` (Helm), ``verify``,
``monitoring`` (what to watch); ``pipeline`` runs them in order, ``errors`` maps each failure to an exit code.
"""

from scripts.promote.command import register
from scripts.promote.monitoring import watch
from scripts.promote.pipeline import Options, promote
from scripts.promote.report import Report, print_report
from scripts.promote.values import effective, merged_values

__all__ = ["Options", "Report", "effective", "merged_values", "print_report", "promote", "register", "watch"]
