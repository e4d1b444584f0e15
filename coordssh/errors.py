"""The one error tree. Every error carries a message, a hint (the fix) and an exit code.

The CLI maps these to exit codes in one place (`coordssh.cli.main`). Adapters translate
third-party exceptions into these at the boundary (`raise ... from exc`).

Exit codes (documented in README.md):
    0   ok
    1   failure (a remote command failed, a run did not end `done`, a refusal)
    2   usage or config error (bad flags, broken coordinator.yml, unknown machine/assignment)
    3   unreachable (connection refused, DNS, connect timeout), or `wait`/`watch` timed out
    4   authentication or host key problem
    70  internal error (a bug: traceback in the state directory's debug.log)
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_AUTH = 4
EXIT_INTERNAL = 70


class CoordError(Exception):
    """Base of every error coordssh raises on purpose."""

    exit_code = EXIT_FAILURE

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


# --- usage and configuration (exit 2) ----------------------------------------------------------
class UsageError(CoordError):
    exit_code = EXIT_USAGE


class ConfigError(UsageError):
    """coordinator.yml is missing, unreadable or invalid.

    `problems` holds every problem found (validation reports them all at once), each already
    formatted as `file:line: path: message`.
    """

    def __init__(self, message: str, hint: str | None = None, problems: list[str] | None = None):
        super().__init__(message, hint)
        self.problems = problems or [message]


class NotFound(UsageError):
    """An unknown machine, repo or assignment id."""


# --- failures (exit 1) -------------------------------------------------------------------------
class Refused(CoordError):
    """coordssh chose not to act: claimed issue, machine at capacity, ... (the reason is the message)."""


class TransitionRefused(Refused):
    """A work item cannot take this event in its stage (domain/stages.py TABLE)."""

    def __init__(self, message: str, hint: str | None = None, *, stage: str = "",
                 key: str = "") -> None:
        super().__init__(message, hint)
        self.stage = stage
        self.key = key


class ForgeError(CoordError):
    """`gh` or git on the operator side failed."""


class ForgeNotFound(ForgeError):
    """The forge has no such issue, pull request or repository (the message names it)."""


class ForgeAuthFailed(ForgeError):
    """`gh` has no token, or its token is invalid."""

    exit_code = EXIT_AUTH


class ForgeRateLimited(ForgeError):
    """GitHub refused for a rate limit; `retry_after` is the suggested wait in seconds."""

    def __init__(self, message: str, hint: str | None = None, retry_after: float = 60.0):
        super().__init__(message, hint)
        self.retry_after = retry_after


class ForgeUnreachable(ForgeError):
    """`gh` (or git on the operator side) could not reach the forge: no network, or it hung."""


class RunFailed(CoordError):
    """A run ended in a terminal outcome other than `done` (used by `wait`/`watch`)."""


# --- machines (exit 1, 3, 4) -------------------------------------------------------------------
class RemoteError(CoordError):
    """Something went wrong on or with a machine: either we could not talk to it
    (TransportError) or a command ran there and failed (RemoteCommandFailed)."""

    def __init__(self, message: str, hint: str | None = None, machine: str | None = None):
        super().__init__(message, hint)
        self.machine = machine


class TransportError(RemoteError):
    """We could not talk to the machine (or the connection broke): its runs are `unknown`."""


class Unreachable(TransportError):
    exit_code = EXIT_UNREACHABLE


class ConnectTimeout(Unreachable):
    pass


class AuthFailed(TransportError):
    exit_code = EXIT_AUTH


class HostKeyUnknown(AuthFailed):
    def __init__(self, message: str, hint: str | None = None, machine: str | None = None,
                 fingerprint: str | None = None):
        super().__init__(message, hint, machine)
        self.fingerprint = fingerprint


class HostKeyChanged(AuthFailed):
    pass


class RemoteCommandFailed(RemoteError):
    """A command reached the machine, ran, and failed: the machine is reachable."""

    def __init__(self, message: str, hint: str | None = None, machine: str | None = None,
                 command: str = "", exit_status: int | None = None, stderr_tail: str = ""):
        super().__init__(message, hint, machine)
        self.command = command
        self.exit_status = exit_status
        self.stderr_tail = stderr_tail


class RemoteTimeout(TransportError):
    """A remote command ran past its timeout (it was killed)."""


class WaitTimeout(CoordError):
    """`wait`/`watch --timeout` ran out before the run ended."""

    exit_code = EXIT_UNREACHABLE


class StateError(CoordError):
    """The operator's state (the board) is unreadable, locked too long, or from a newer coordssh."""


class InternalError(CoordError):
    exit_code = EXIT_INTERNAL


# --- forge refusals of the pull-request pipeline (exit 1) --------------------------------------
class ForgeMissing(ForgeError):
    """The forge's program (`gh`, `git`) is not installed on this machine."""


class PullRequestRefused(ForgeError):
    """The forge would not open a pull request; `reason`: `no_branch` | `no_commits` | `other`."""

    def __init__(self, message: str, hint: str | None = None, reason: str = "other"):
        super().__init__(message, hint)
        self.reason = reason


class MergeRefused(ForgeError):
    """The forge would not merge. `reason` is one of `conflict`, `policy`, `behind`, `draft`,
    `head_changed`, `base_modified`, `closed`, `not_mergeable`; `retryable` says asking again
    later may succeed (mergeability was being recomputed, the base moved under the merge)."""

    def __init__(self, message: str, hint: str | None = None, reason: str = "not_mergeable",
                 retryable: bool = False):
        super().__init__(message, hint)
        self.reason = reason
        self.retryable = retryable


class SelfReviewRefused(ForgeError):
    """GitHub refuses a review by the PR's own author: post the text as a comment instead."""
