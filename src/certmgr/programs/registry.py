"""The registry: every server program certmgr manages, once, in the order ``discover`` reports.

:class:`ServiceKind` is made from it: each member's value is the program's
name (``slapd``...), the word commands print and the repository stores, and
``ServiceKind.X.spec`` is the program's :class:`~certmgr.programs.spec.ProgramSpec`.
Adding a program is its name in the import list and its line in the enum (see
:mod:`certmgr.programs`).
"""

from __future__ import annotations

from enum import Enum

from certmgr.programs import (  # one line per program
    apache2,
    dovecot,
    exim4,
    haproxy,
    nginx,
    postfix,
    slapd,
    tomcat,
    vsftpd,
)
from certmgr.programs.spec import ProgramSpec

__all__ = ["PROGRAMS", "ServiceKind", "spec_for"]


class ServiceKind(str, Enum):
    """A server program certmgr knows how to manage; its value is the program's name."""

    spec: ProgramSpec

    def __new__(cls, spec: ProgramSpec | str) -> ServiceKind:
        if not isinstance(spec, ProgramSpec):
            raise TypeError("a ServiceKind member is made from a ProgramSpec")
        member = str.__new__(cls, spec.name)
        member._value_ = spec.name
        member.spec = spec
        return member

    @property
    def value(self) -> str:
        return str(self._value_)

    # One line per program.
    SLAPD = slapd.SPEC
    APACHE2 = apache2.SPEC
    VSFTPD = vsftpd.SPEC
    POSTFIX = postfix.SPEC
    DOVECOT = dovecot.SPEC
    TOMCAT = tomcat.SPEC
    NGINX = nginx.SPEC
    HAPROXY = haproxy.SPEC
    EXIM4 = exim4.SPEC


PROGRAMS: tuple[ProgramSpec, ...] = tuple(kind.spec for kind in ServiceKind)
"""Every program's spec, in registry order."""


def spec_for(kind: ServiceKind | str) -> ProgramSpec:
    """The spec of a kind (or of its name). Raises ValueError for an unknown name."""
    return ServiceKind(kind).spec
