"""The one base class of "the input is wrong" errors.

Every error that means a file, a setting or an option the user gave is invalid derives from
:class:`BadInput`, and the command line maps exactly those to exit code 2 ("fix your input, do not retry").
Matching builtins such as ``ValueError`` instead would report a bug in the program as the user's fault, and
under a supervisor exit 2 means "never restart": an internal error must exit 1.
"""

from __future__ import annotations


class BadInput(Exception):
    """The user's input (a file, a setting, an option) is invalid; the message says what and where."""
