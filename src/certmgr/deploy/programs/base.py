"""What deploy must know about each server program: one class per program, one registry.

A :class:`Program` says where the seed layout puts the program's files, who
reads its key (Table 1's owners and modes follow), how its configuration
lines are written (for edits), how to test its configuration, and how to make
it load new files the least disruptive way. Discovery adapters describe what
is configured; these strategies are deploy's, and live here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol, runtime_checkable

from certmgr.deploy.model import DeployPlan
from certmgr.deploy.programs.control import ServiceControl
from certmgr.hosts.base import WritableHost
from certmgr.models import FileSpec, ServiceKind

__all__ = ["KeyFormat", "Program", "ReloadContext", "key_dir_spec", "key_spec"]


class KeyFormat:
    """How a program wants its credential written."""

    PEM = "pem"            # cert (+ chain) file and a key file
    FULLCHAIN = "fullchain"  # leaf + intermediates in the cert file (nginx)
    COMBINED = "combined"  # cert, chain and key in one file (haproxy)
    KEYSTORE = "keystore"  # JKS or PKCS#12 with the password and alias of the config


@dataclass
class ReloadContext:
    """What a reload needs: the host, its service control, the plan, and the direction.

    ``restoring`` is True when a rollback reloads the old files; ``config_changed``
    when a configuration file was edited (some programs then need a restart).
    """

    host: WritableHost
    control: ServiceControl
    plan: DeployPlan
    restoring: bool = False
    config_changed: bool | None = None

    def __post_init__(self) -> None:
        if self.config_changed is None:
            self.config_changed = bool(self.plan.edits)


@runtime_checkable
class Program(Protocol):
    """Deploy's strategy for one server program.

    Attributes:
        kind: the program.
        style: how its configuration lines set a value (see ``configedit.STYLES``).
        reads_key_as_user: True when it opens the key after dropping privileges
            (slapd, Tomcat): the key is then ``root:<group> 0640``.
        key_format: a :class:`KeyFormat` value.
        unit: its systemd unit.
        settle: seconds an endpoint may keep failing outright (refused, handshake
            failed) after a reload before verify gives up early.
    """

    kind: ClassVar[ServiceKind]
    style: ClassVar[str]
    reads_key_as_user: ClassVar[bool]
    key_format: ClassVar[str]
    unit: ClassVar[str]
    settle: ClassVar[float]

    def reload_method(self, control: ServiceControl) -> str:
        """One line for the plan: how the program will be made to load the files."""
        ...

    def config_test(self, host: WritableHost, plan: DeployPlan) -> str | None:
        """Test the program's configuration with the new files in place, before reload.

        Returns:
            None when it passes, else what failed (one line plus the tool's output).
        """
        ...

    def reload(self, ctx: ReloadContext) -> str:
        """Make the running program load the files now in place; return what was done.

        Raises:
            ReloadFailed: the program refused or died.
        """
        ...


def key_spec(program: Program, path: str, group: str | None) -> FileSpec:
    """Table 1: root:root 0600, or root:<group> 0640 for programs reading keys as their user."""
    if program.reads_key_as_user and group:
        return FileSpec(path, "root", group, 0o640)
    return FileSpec(path, "root", "root", 0o600)


def key_dir_spec(program: Program, path: str, group: str | None) -> FileSpec:
    """``private/``: 0700 root:root, or 0750 root:<group>."""
    if program.reads_key_as_user and group:
        return FileSpec(path, "root", group, 0o750)
    return FileSpec(path, "root", "root", 0o700)
