"""Postfix on a lab host: SMTP 25 and submission 587 (STARTTLS), submissions 465 (TLS)."""

from __future__ import annotations

from typing import ClassVar

from certmgr.hosts.servicetable import ServiceEntry
from certmgr.models import TlsMode
from certmgr.programs.lab import LabContext, LabProgram, Ports, sh

__all__ = ["LAB", "PostfixLab"]


class PostfixLab(LabProgram):
    name: ClassVar[str] = "postfix"
    ports: ClassVar[Ports] = ((25, TlsMode.STARTTLS_SMTP), (587, TlsMode.STARTTLS_SMTP),
                              (465, TlsMode.DIRECT))
    default: ClassVar[bool] = True

    def install(self, ctx: LabContext) -> None:
        t = ctx.tree
        cert, key = ctx.pem_pair(self.name, "smtp.example.com", ())
        t.write("/etc/postfix/main.cf",
                ctx.template("postfix/main.cf", ADDRESS=ctx.address, CERT=cert, KEY=key))
        t.write("/etc/postfix/master.cf", ctx.template("postfix/master.cf"))
        t.write("/etc/mailname", "smtp.example.com\n")
        t.mkdir("/var/spool/postfix")
        t.mkdir("/var/lib/postfix", mode=0o700, owner="postfix", group="postfix")

    def service(self, ctx: LabContext) -> ServiceEntry:
        log = "/var/log/postfix.startup.log"
        return ServiceEntry(
            name=self.name, user="root",
            # "postfix check" creates the queue directories with their owners.
            start=sh("postfix check && postfix start", log), reload=("postfix", "reload"),
            pid_file="/var/spool/postfix/pid/master.pid",
            logs=(log, "/var/log/postfix.log"), endpoints=self.endpoints(ctx.address),
        )


LAB = PostfixLab()
