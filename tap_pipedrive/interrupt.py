"""SIGINT and SIGTERM: stop the sync, write the state reached, exit 130 or 143.

The SDK's handler writes a STATE and calls `sys.exit(0)`, so a scheduler's timeout or a
Ctrl-C looks like a finished run. The tap's handler (`TapPipedrive.on_termination`, the
SDK's termination hook, sdk_compat.py) raises `Interrupted` instead, which unwinds the sync
like any failure: workers stop, the summary says "interrupted", the tap writes its state,
and the command line prints one line and exits 128 + the signal's number.

A signal that arrives while a Singer message is being written waits until the line is out
(`guard.writing`, set by the message writer): a STATE appended to half a RECORD line would
be unreadable. Elsewhere (waiting for a page, retrying) it stops the run at once.
"""

from __future__ import annotations

import signal

NAMES: dict[int, str] = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM"}


class Interrupted(BaseException):  # like KeyboardInterrupt: not an Exception
    """A signal stopped the run (`except Exception` blocks must not swallow it)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.exit_code = 128 + signum  # the shell's convention: 130 for SIGINT, 143 for SIGTERM
        self.state_saved = False  # set once the final STATE is written (TapPipedrive.sync_all)
        super().__init__(f"interrupted by {NAMES.get(signum, f'signal {signum}')}")

    def describe(self) -> str:
        if self.state_saved:
            return f"{self.args[0]}; state saved, run again with the last STATE to resume"
        return f"{self.args[0]} before any record was written; run again"


class _Guard:
    """Set while the main thread writes a message (the only thread that writes)."""

    writing = False
    pending: int | None = None
    stopping = False  # raised once: a second signal must not cut the state's writing short


guard = _Guard()


def handle(signum: int) -> None:
    """The signal handler's work (it runs in the main thread, between two bytecodes)."""
    if guard.stopping:
        return
    if guard.writing:
        guard.pending = signum
        return
    guard.stopping = True
    raise Interrupted(signum)


def raise_pending() -> None:
    """After a message is written: the signal that came meanwhile, if any."""
    if guard.pending is not None:
        signum, guard.pending = guard.pending, None
        guard.stopping = True
        raise Interrupted(signum)
