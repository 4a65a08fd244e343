"""Apache on a lab host: Debian's default-ssl site on 443 and its default site on 80 (web
root /var/lib/certmgr-lab/www), started with ``apache2ctl``."""

from __future__ import annotations

from typing import ClassVar

from certmgr.hosts.servicetable import ServiceEntry
from certmgr.models import TlsMode
from certmgr.programs.lab import LabContext, LabProgram, Ports, sh

__all__ = ["LAB", "Apache2Lab"]


class Apache2Lab(LabProgram):
    name: ClassVar[str] = "apache2"
    ports: ClassVar[Ports] = ((443, TlsMode.DIRECT),)
    http_ports: ClassVar[tuple[int, ...]] = (80,)
    default: ClassVar[bool] = True

    def install(self, ctx: LabContext) -> None:
        t = ctx.tree
        cert, key = ctx.pem_pair(self.name, "www.example.com", ())
        t.write("/etc/apache2/ports.conf",
                ctx.template("apache2/ports.conf", ADDRESS=ctx.address))
        t.write("/etc/apache2/sites-available/default-ssl.conf",
                ctx.template("apache2/default-ssl.conf", CERT=cert, KEY=key))
        # a2enmod ssl; a2ensite default-ssl (the links Debian's tools make).
        for name in ("ssl.load", "ssl.conf", "socache_shmcb.load"):
            t.symlink(f"/etc/apache2/mods-enabled/{name}", f"../mods-available/{name}")
        t.symlink("/etc/apache2/sites-enabled/default-ssl.conf",
                  "../sites-available/default-ssl.conf")
        # Debian's default site on port 80, where ACME http-01 tokens are fetched.
        t.write("/etc/apache2/sites-available/000-default.conf",
                ctx.template("apache2/000-default.conf"))
        t.symlink("/etc/apache2/sites-enabled/000-default.conf",
                  "../sites-available/000-default.conf")
        t.mkdir("/var/lib/certmgr-lab/www")
        t.mkdir("/var/log/apache2", mode=0o750, group="adm")
        t.mkdir("/var/cache/apache2")

    def service(self, ctx: LabContext) -> ServiceEntry:
        log = "/var/log/apache2/startup.log"
        return ServiceEntry(
            name=self.name, user="root",
            start=sh("apache2ctl start", log), reload=("apache2ctl", "graceful"),
            pid_file="/run/apache2/apache2.pid",
            logs=(log, "/var/log/apache2/error.log"), endpoints=self.endpoints(ctx.address),
        )


LAB = Apache2Lab()
