"""What can stop a promotion, one class per kind of failure, each with the exit code `snap2prod promote` returns.

- 0: promoted, or nothing to change; `--dry-run`: rendered and validated
- 1: any other error (one message, no traceback)
- 2: usage: a bad flag or value (typer's own)
- 3 ParityFailed: the lock does not match the local Ollama, or an image is not pinned by digest
- 4 TargetRefused: kind or a container engine missing, a local-looking context for prod, not confirmed, no cluster
- 5 PreflightFailed: the cluster cannot run the stack (API, version, GPUs, GPU memory, storage, ingress, the
  server's validation in a dry run); nothing changed
- 6 RolloutFailed: Helm's install or upgrade failed; rolled back to the previous revision (a first install is removed)
- 7 VerifyFailed: the rollout finished but the models or the helm test did not check out; rolled back
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from scripts.errors import CliError


class PromoteError(CliError):
    """Base of the promotion's failures; ``exit_code`` is what the command returns.

    ``report`` is the promotion's report as far as it got (scripts.promote.report.Report), set by the pipeline.
    """

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.report: object = None


class ParityFailed(PromoteError):
    """The stack about to be promoted is not the one that was locked and built."""

    exit_code = 3


class TargetRefused(PromoteError):
    """The target cluster cannot or must not be used as asked."""

    exit_code = 4


class PreflightFailed(PromoteError):
    """A preflight check failed: the cluster cannot run the stack. Nothing in the cluster was changed."""

    exit_code = 5

    def __init__(self, message: str, checks: Iterable[Any] = ()) -> None:
        super().__init__(message)
        self.checks: list[Any] = list(checks)  # the checks as they stood (scripts.promote.preflight.Check)


class RolloutFailed(PromoteError):
    """Helm's install or upgrade failed (and was rolled back)."""

    exit_code = 6


class VerifyFailed(PromoteError):
    """The rollout finished but what runs does not match the lock, or the helm test failed (rolled back)."""

    exit_code = 7
