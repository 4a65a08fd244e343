"""vsftpd on a lab host: explicit FTPS (AUTH TLS) on 21, restarted to load new files."""

from __future__ import annotations

from typing import ClassVar

from certmgr.hosts.servicetable import ServiceEntry
from certmgr.models import TlsMode
from certmgr.programs.lab import LabContext, LabProgram, Ports, foreground

__all__ = ["LAB", "VsftpdLab"]


class VsftpdLab(LabProgram):
    name: ClassVar[str] = "vsftpd"
    ports: ClassVar[Ports] = ((21, TlsMode.STARTTLS_FTP),)
    default: ClassVar[bool] = True

    def install(self, ctx: LabContext) -> None:
        cert, key = ctx.pem_pair(self.name, "www2.example.com", ("ftp.example.com",))
        ctx.tree.write("/etc/vsftpd.conf", ctx.template("vsftpd/vsftpd.conf",
                                                        ADDRESS=ctx.address, CERT=cert, KEY=key))

    def service(self, ctx: LabContext) -> ServiceEntry:
        # vsftpd writes its start-up errors ("500 OOPS") to fd 0: stdin is a log file.
        oops = "/var/log/vsftpd.startup.log"
        return ServiceEntry(
            name=self.name, user="root",
            start=foreground("/run/vsftpd.pid", "/usr/sbin/vsftpd /etc/vsftpd.conf",
                             "/var/log/vsftpd.stderr.log", stdin=oops,
                             before="mkdir -p -m 0755 /run/vsftpd/empty; "),
            reload=None, pid_file="/run/vsftpd.pid",
            logs=(oops, "/var/log/vsftpd.stderr.log", "/var/log/vsftpd.log"),
            endpoints=self.endpoints(ctx.address),
        )


LAB = VsftpdLab()
