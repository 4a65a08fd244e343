"""Dovecot on a lab host: POP3 110 and IMAP 143 (STARTTLS), POP3S 995 and IMAPS 993."""

from __future__ import annotations

from typing import ClassVar

from certmgr.hosts.servicetable import ServiceEntry
from certmgr.models import TlsMode
from certmgr.programs.lab import LabContext, LabProgram, Ports, sh

__all__ = ["LAB", "DovecotLab"]


class DovecotLab(LabProgram):
    name: ClassVar[str] = "dovecot"
    ports: ClassVar[Ports] = ((110, TlsMode.STARTTLS_POP3), (995, TlsMode.DIRECT),
                              (143, TlsMode.STARTTLS_IMAP), (993, TlsMode.DIRECT))
    default: ClassVar[bool] = True

    def install(self, ctx: LabContext) -> None:
        t = ctx.tree
        cert, key = ctx.pem_pair(self.name, "pop.example.com", ("imap.example.com",))
        t.write("/etc/dovecot/dovecot.conf",
                ctx.template("dovecot/dovecot.conf", ADDRESS=ctx.address))
        t.write("/etc/dovecot/conf.d/10-ssl.conf",
                ctx.template("dovecot/10-ssl.conf", CERT=cert, KEY=key))
        t.write("/etc/dovecot/conf.d/10-logging.conf", ctx.template("dovecot/10-logging.conf"))
        t.mkdir("/var/lib/dovecot")

    def service(self, ctx: LabContext) -> ServiceEntry:
        # Dovecot's master keeps the caller's stderr as a fallback log: a file, never a pipe.
        log = "/var/log/dovecot.startup.log"
        return ServiceEntry(
            name=self.name, user="root",
            start=sh("/usr/sbin/dovecot", log), reload=("dovecot", "reload"),
            pid_file="/run/dovecot/master.pid",
            logs=(log, "/var/log/dovecot.log"), endpoints=self.endpoints(ctx.address),
        )


LAB = DovecotLab()
