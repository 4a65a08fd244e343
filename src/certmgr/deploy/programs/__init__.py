"""Deploy's per-program strategies, one module per program, one registry list."""

from __future__ import annotations

from certmgr.deploy.programs.apache2 import Apache2
from certmgr.deploy.programs.base import KeyFormat, Program, ReloadContext
from certmgr.deploy.programs.control import ServiceControl
from certmgr.deploy.programs.dovecot import Dovecot
from certmgr.deploy.programs.haproxy import Haproxy
from certmgr.deploy.programs.nginx import Nginx
from certmgr.deploy.programs.postfix import Postfix
from certmgr.deploy.programs.slapd import Slapd
from certmgr.deploy.programs.tomcat import Tomcat
from certmgr.deploy.programs.vsftpd import Vsftpd
from certmgr.models import ServiceKind

__all__ = ["PROGRAMS", "KeyFormat", "Program", "ReloadContext", "ServiceControl", "program_for"]

# One line per program.
PROGRAMS: tuple[Program, ...] = (Slapd(), Apache2(), Vsftpd(), Postfix(), Dovecot(), Tomcat(),
                                 Nginx(), Haproxy())


def program_for(kind: ServiceKind) -> Program:
    """The strategy for ``kind``."""
    for program in PROGRAMS:
        if program.kind is kind:
            return program
    raise KeyError(kind)
