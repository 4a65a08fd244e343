"""What certmgr knows about one server program: the :class:`ProgramSpec` every program fills in.

A spec is data plus methods on hosts-level primitives (run a command on the
host, the service table, a pid); the engines (discover, check, deploy, the
lab, the CLI's help) read it and never name a program themselves:

* discovery: :attr:`ProgramSpec.adapter` reads the program's configuration;
* the seed layout: :attr:`~ProgramSpec.seed_dir`, :attr:`~ProgramSpec.style` and
  :meth:`~ProgramSpec.new_line` say where per-program files go and how a
  configuration line is changed or added; the kind-specific turns of a layout
  decision are the spec's methods (:meth:`~ProgramSpec.live_change`,
  :meth:`~ProgramSpec.combined_pem`...);
* Table 1 (:mod:`certmgr.programs.policy`): :attr:`~ProgramSpec.reads_key_as_user`
  and :attr:`~ProgramSpec.key_format`; AppArmor: :attr:`~ProgramSpec.apparmor_binaries`;
* the configuration test, once (:attr:`~ProgramSpec.config_test_spec`): ``check``
  runs it when it is read-only, deploy before every reload;
* deploy's reload: :meth:`~ProgramSpec.reload_method` and :meth:`~ProgramSpec.reload`,
  written against :class:`ServiceControlView` (deploy's service control);
* the lab: :attr:`~ProgramSpec.lab` installs and runs it on a lab host
  (:mod:`certmgr.programs.lab`).
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Protocol

from certmgr.programs.tools import run_test

# Only types at import time: the registry (and so the CLI's help) loads every spec.
if TYPE_CHECKING:
    from certmgr.hosts.base import CommandResult, Host, WritableHost
    from certmgr.hosts.servicetable import ServiceEntry
    from certmgr.models import Endpoint, FileSpec
    from certmgr.programs.base import ServiceAdapter
    from certmgr.programs.lab import LabProgram
    from certmgr.programs.registry import ServiceKind
    from certmgr.programs.slapd import LdapChange
    from certmgr.programs.styles import LineStyle

__all__ = [
    "ConfigTest",
    "KeyFormat",
    "PlanView",
    "ProgramSpec",
    "ReloadContext",
    "ServiceControlView",
]


class KeyFormat:
    """How a program wants its credential written."""

    PEM = "pem"            # cert (+ chain) file and a key file
    FULLCHAIN = "fullchain"  # leaf + intermediates in the cert file (nginx)
    COMBINED = "combined"  # cert, chain and key in one file (haproxy)
    KEYSTORE = "keystore"  # JKS or PKCS#12 with the password and alias of the config


class ServiceControlView(Protocol):
    """What a reload may ask of the host's service control (deploy's ``ServiceControl``)."""

    @property
    def host(self) -> WritableHost: ...

    @property
    def systemd(self) -> bool: ...

    def entry(self, name: str) -> ServiceEntry | None: ...

    def describe(self, name: str) -> str: ...

    def run(self, argv: list[str] | tuple[str, ...], what: str,
            timeout: float = 120.0) -> CommandResult: ...

    def reload(self, name: str, default: list[str], unit: str) -> str: ...

    def restart(self, name: str, unit: str) -> str: ...

    def main_pid(self, name: str) -> int | None: ...

    def alive(self, pid: int) -> bool: ...


class TargetView(Protocol):
    """The slot a plan deploys to, as a program's strategy reads it."""

    @property
    def config(self) -> str: ...

    @property
    def user(self) -> str: ...

    @property
    def endpoints(self) -> tuple[Endpoint, ...]: ...

    @property
    def password(self) -> str | None: ...

    @property
    def key_alias(self) -> str | None: ...


class PlacedFileView(Protocol):
    @property
    def role(self) -> str: ...

    @property
    def spec(self) -> FileSpec: ...


class PlanView(Protocol):
    """A deploy plan, as a program's config test and reload read it."""

    @property
    def target(self) -> TargetView: ...

    @property
    def files(self) -> Sequence[PlacedFileView]: ...

    @property
    def edits(self) -> Sequence[object]: ...

    @property
    def ldap(self) -> LdapChange | None: ...


@dataclass
class ReloadContext:
    """What a reload needs: the host, its service control, the plan, and the direction.

    ``restoring`` is True when a rollback reloads the old files; ``config_changed``
    when a configuration file was edited (some programs then need a restart).
    """

    host: WritableHost
    control: ServiceControlView
    plan: PlanView
    restoring: bool = False
    config_changed: bool | None = None

    def __post_init__(self) -> None:
        if self.config_changed is None:
            self.config_changed = bool(self.plan.edits)


@dataclass(frozen=True)
class ConfigTest:
    """A program's own configuration test, and how to read file and line from its complaint.

    Attributes:
        program: the executable that must be on the host for the test to run.
        what: how a failure names the test (``nginx -t``).
        argv: the command for a configuration whose main file is the given path.
        patterns: regexes with ``path``, ``line`` and ``msg`` groups over its output.
        read_only: True when running it changes nothing (``check`` runs only those;
            ``postfix check`` repairs things).
    """

    program: str
    what: str
    argv: Callable[[Host, str], list[str]]
    patterns: tuple[re.Pattern[str], ...] = ()
    read_only: bool = True


class ProgramSpec(ABC):
    """One server program, whole. Subclasses set the class attributes and override methods.

    Attributes:
        name: its kind's value (``slapd``), as commands print it and the repository stores it.
        title: how help text names it (``Apache``).
        adapter: its discovery adapter (``ADAPTER`` of the package's ``discovery`` module).
        lab: its part of ``certmgr lab`` (``LAB`` of the package's ``lab`` module), or None.
        seed_dir: the seed's per-program directory (Table 1), None: next to its config.
        style: how its configuration lines set a value (:mod:`certmgr.programs.styles`).
        new_lines: role -> line that adds a setting its configuration lacks (``{path}``).
        reads_key_as_user: True when it opens the key after dropping privileges
            (slapd, Tomcat): the key is then ``root:<group> 0640`` (Table 1).
        key_format: a :class:`KeyFormat` value.
        default_key_alias: the alias the program reads from a keystore whose
            configuration names none.
        needs_ca_file: the seed layout gives it a trusted-CA file even without one now.
        config_holds_secrets: its configuration holds passwords (diffs are not shown).
        plan_notes: lines every plan for it carries.
        includes_are_shared: a setting in a file other than the slot's own config is
            in an include other parts may share (``certmgr layout`` warns); False for
            slapd, whose cn=config entries are files of their own.
        apparmor_binaries: the binaries its AppArmor profile attaches to.
        config_test_spec: its own configuration test, or None.
        unit: its systemd unit.
        settle: seconds an endpoint may keep failing outright (refused, handshake
            failed) after a reload before verify gives up early.
    """

    name: ClassVar[str]
    title: ClassVar[str]
    seed_dir: ClassVar[str | None] = None
    style: ClassVar[LineStyle]
    new_lines: ClassVar[Mapping[str, str]] = {}
    reads_key_as_user: ClassVar[bool] = False
    key_format: ClassVar[str] = KeyFormat.PEM
    default_key_alias: ClassVar[str | None] = None
    needs_ca_file: ClassVar[bool] = False
    config_holds_secrets: ClassVar[bool] = False
    plan_notes: ClassVar[tuple[str, ...]] = ()
    includes_are_shared: ClassVar[bool] = True
    apparmor_binaries: ClassVar[tuple[str, ...]] = ()
    config_test_spec: ClassVar[ConfigTest | None] = None
    unit: ClassVar[str]
    settle: ClassVar[float] = 6.0

    @property
    def kind(self) -> ServiceKind:
        from certmgr.programs.registry import ServiceKind

        return ServiceKind(self.name)

    @property
    def adapter(self) -> ServiceAdapter:
        # Imported on first use: listing the programs (the CLI's help) stays cheap.
        module = importlib.import_module(f"{type(self).__module__}.discovery")
        adapter: ServiceAdapter = module.ADAPTER
        return adapter

    @property
    def lab(self) -> LabProgram | None:
        name = f"{type(self).__module__}.lab"
        if importlib.util.find_spec(name) is None:
            return None
        lab: LabProgram = importlib.import_module(name).LAB
        return lab

    # -- layout ---------------------------------------------------------------

    def line_style(self, directive: str) -> LineStyle:
        """How the line setting ``directive`` is written (its :attr:`style`)."""
        return self.style

    def new_line(self, role: str, path: str, anchor_directive: str) -> str:
        """The line that sets ``role`` to ``path``, added after the ``anchor_directive`` line."""
        return self.new_lines[role].format(path=path)

    def live_change(self, config: str, new: Mapping[str, str],
                    old: Mapping[str, str]) -> LdapChange | None:
        """A change the running program takes instead of a file edit (slapd's cn=config)."""
        return None

    def combined_pem(self, key: bytes, leaf: bytes, chain: bytes) -> bytes:
        """One file holding certificate, chain and key, in the order the program reads."""
        return leaf + chain + key

    # -- deploy ---------------------------------------------------------------

    @abstractmethod
    def reload_method(self, control: ServiceControlView) -> str:
        """One line for the plan: how the program will be made to load the files."""

    def config_test(self, host: WritableHost, plan: PlanView) -> str | None:
        """Test the program's configuration with the new files in place, before reload.

        Returns:
            None when it passes, else what failed (one line plus the tool's output).
        """
        test = self.config_test_spec
        if test is None:
            return None
        return run_test(host, test.argv(host, plan.target.config), test.what)

    @abstractmethod
    def reload(self, ctx: ReloadContext) -> str:
        """Make the running program load the files now in place; return what was done.

        Raises:
            ReloadFailed: the program refused or died.
        """
