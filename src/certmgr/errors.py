"""The one exception tree of certmgr.

Every error certmgr raises on purpose derives from :class:`CertmgrError`. The
message of each error says what failed and what to do next; the fields carry
the details (path, service, command, stderr) for callers that want them.
Only the boundaries (``cli/``, ``web/``) translate errors into exit codes or
HTTP statuses.

::

    CertmgrError                      exit_code 2 unless said otherwise
    ├── UsageError                    bad command-line usage or option value
    ├── InputError                    a file or value given by the user is invalid
    │   ├── ConfigError               a server program's configuration cannot be read
    │   └── PKIError                  a certificate, key, CSR or keystore cannot be used
    │       └── WrongPassword         a password or passphrase does not open the data
    ├── RepositoryError               the repository cannot be opened, read or written
    │   ├── MasterKeyError            the master key or passphrase is missing or wrong
    │   └── NotFound                  a named object is not in the repository
    ├── HostError                     a host cannot be reached or a command failed
    │   └── CommandFailed             a command exited non-zero
    ├── LabError                      the test lab cannot be brought up or down
    ├── DiscoveryError                discovery could not read a program's setup
    ├── IssuanceError                 an issuer refused or failed (exit 1)
    ├── DeployError                   a deployment failed (exit 1)
    │   ├── PreflightFailed           a check before any change failed
    │   ├── ReloadFailed              the program did not take the new files
    │   └── RollbackFailed            restoring the old state failed: loud
    ├── ProbeError                    a network probe could not complete (exit 1)
    └── NotifyError                   a notice could not be delivered (exit 1)
"""

from __future__ import annotations

from pathlib import PurePath

__all__ = [
    "CertmgrError",
    "CommandFailed",
    "ConfigError",
    "DeployError",
    "DiscoveryError",
    "HostError",
    "InputError",
    "IssuanceError",
    "LabError",
    "MasterKeyError",
    "NotFound",
    "NotifyError",
    "PKIError",
    "PreflightFailed",
    "ProbeError",
    "ReloadFailed",
    "RepositoryError",
    "RollbackFailed",
    "UsageError",
    "WrongPassword",
]


class CertmgrError(Exception):
    """Root of every error certmgr raises on purpose.

    Args:
        message: one line saying what is wrong and what to do about it.
        path: the file the error is about, as the user named it, if any.
    """

    exit_code: int = 2

    def __init__(self, message: str, *, path: str | PurePath | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = str(path) if path is not None else None

    def __str__(self) -> str:
        return self.message


class UsageError(CertmgrError):
    """Bad command-line usage or an invalid option value."""


class InputError(CertmgrError):
    """A file or value given by the user is invalid."""


class ConfigError(InputError):
    """A server program's configuration cannot be read.

    Args:
        line: 1-based line number in ``path`` where the problem is, if known.
    """

    def __init__(
        self, message: str, *, path: str | PurePath | None = None, line: int | None = None
    ) -> None:
        super().__init__(message, path=path)
        self.line = line


class PKIError(InputError):
    """A certificate, key, CSR or keystore cannot be used."""


class WrongPassword(PKIError):
    """A password or passphrase does not open the data."""


class RepositoryError(CertmgrError):
    """The repository cannot be opened, read or written."""


class MasterKeyError(RepositoryError):
    """The master key file or passphrase is missing or wrong."""


class NotFound(RepositoryError):
    """A named object is not in the repository."""


class HostError(CertmgrError):
    """A host cannot be reached, or a file or command on it failed."""

    def __init__(
        self, message: str, *, path: str | PurePath | None = None, host: str | None = None
    ) -> None:
        super().__init__(message, path=path)
        self.host = host


class CommandFailed(HostError):
    """A command exited non-zero.

    Args:
        command: the argument list that was run.
        returncode: its exit status.
        stderr: what it printed on stderr (never contains key material).
    """

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        command: list[str],
        returncode: int,
        stderr: str = "",
        host: str | None = None,
    ) -> None:
        super().__init__(message, host=host)
        self.command = command
        self.returncode = returncode
        self.stderr = stderr


class LabError(CertmgrError):
    """The test lab cannot be brought up, inspected or torn down."""


class DiscoveryError(CertmgrError):
    """Discovery could not read a program's setup."""


class IssuanceError(CertmgrError):
    """An issuer refused or failed to issue a certificate."""

    exit_code = 1


class DeployError(CertmgrError):
    """A deployment failed; the message says what state things were left in."""

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        path: str | PurePath | None = None,
        service: str | None = None,
        slot: str | None = None,
    ) -> None:
        super().__init__(message, path=path)
        self.service = service
        self.slot = slot


class PreflightFailed(DeployError):
    """A check before any change failed; nothing was changed."""


class ReloadFailed(DeployError):
    """The program did not load the new files."""


class RollbackFailed(DeployError):
    """Restoring the previous state failed; the message lists each file's state."""


class ProbeError(CertmgrError):
    """A network probe could not complete."""

    exit_code = 1


class NotifyError(CertmgrError):
    """A notice (email, webhook) could not be delivered; never carries the secret used."""

    exit_code = 1
