"""Errors carrying iptables' own message and exit status.

iptables distinguishes (xtables.h, ``enum xtables_exittype``)::

    OTHER_PROBLEM = 1, PARAMETER_PROBLEM = 2, VERSION_PROBLEM = 3, RESOURCE_PROBLEM = 4

The front ends (``iptables``, ``iptables-restore``, ``bpftables parse``) decide how a message is
framed (program name and version, "Error occurred at line", the help hint); the errors here carry
only the message text and the exit status.
"""

from __future__ import annotations


class IptablesError(Exception):
    """Base: ``message`` is the text iptables prints after its ``prog vX (legacy): `` prefix."""

    exit_code = 1
    # what iptables had printed on stderr before it failed (e.g. parse-time warnings)
    warnings: tuple[str, ...] = ()

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class OtherProblem(IptablesError):
    exit_code = 1


class ParameterProblem(IptablesError):
    """Bad syntax or value: iptables prints it with the help hint and exits 2."""

    exit_code = 2


class VersionProblem(IptablesError):
    exit_code = 3


class ResourceProblem(IptablesError):
    exit_code = 4


EINVAL_TEXT = "Invalid argument. Run `dmesg' for more information"


class KernelRejection(IptablesError):
    """What the kernel's checkentry would refuse (wrong table, hook, protocol, a loop).

    iptables reports these only when the table is committed: ``iptables: <strerror>.`` from the
    command line, ``iptables-restore: line N failed`` from a restore (N is the COMMIT line).
    ``errno_text`` is libiptc's message (default: EINVAL's).
    """

    exit_code = 1

    def __init__(self, message: str, errno_text: str = EINVAL_TEXT) -> None:
        super().__init__(message)
        self.errno_text = errno_text


VERSION = "v1.8.9 (legacy)"


def error_text(error: IptablesError, program: str = "iptables") -> str:
    """What ``iptables`` (or ``program``) prints on stderr for ``error`` from the command line.

    Parameter problems carry the help hint; libiptc and kernel failures print as
    ``iptables: <reason>.``.
    """
    from iptparse.edit import TableError

    if isinstance(error, KernelRejection):
        return f"{program}: {error.errno_text}.\n"
    if isinstance(error, TableError):
        return f"{program}: {error.message}.\n"
    prefix = "" if getattr(error, "bare", False) else f"{program} {VERSION}: "
    text = f"{prefix}{error.message}\n"
    if isinstance(error, ParameterProblem):
        text += f"Try `{program} -h' or '{program} --help' for more information.\n"
    return text
