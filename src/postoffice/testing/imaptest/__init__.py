"""A runner for Dovecot imaptest's scripted tests (``imaptest test=DIR``), in Python.

:func:`load_script` reads a script and its mbox; :func:`run_script` replays it against an IMAP
server and returns an :class:`Outcome`: passed, skipped (with the reason, e.g. a capability the
server lacks) or failed (with the command, the expected line and what the server sent).
The format is described in imaptest's ``docs/scripted_test.md``; where that is vague, the
runner follows imaptest's own parser and executor.
"""

from postoffice.testing.imaptest.outcome import Outcome
from postoffice.testing.imaptest.runner import run_script
from postoffice.testing.imaptest.script import Script, ScriptError, load_script

__all__ = ["Outcome", "Script", "ScriptError", "load_script", "run_script"]
