"""nginx on a lab host, as Debian runs it: the master as root (it reads the key), workers as
www-data.

Debian's own nginx.conf is kept; its default site is replaced by one TLS server on
port 4431 of the host's address and a plain one on port 80 (web root /var/lib/certmgr-lab/www, where
ACME http-01 tokens are fetched), so it shares no host with Apache. It runs only when
asked for.
"""

from __future__ import annotations

from typing import ClassVar

from certmgr.hosts.servicetable import ServiceEntry
from certmgr.models import TlsMode
from certmgr.programs.lab import LabContext, LabProgram, Ports, sh

__all__ = ["LAB", "NginxLab"]


class NginxLab(LabProgram):
    name: ClassVar[str] = "nginx"
    ports: ClassVar[Ports] = ((4431, TlsMode.DIRECT),)
    http_ports: ClassVar[tuple[int, ...]] = (80,)

    def install(self, ctx: LabContext) -> None:
        t = ctx.tree
        cert, key = ctx.pem_pair(self.name, "www.example.com", ())
        t.write("/etc/nginx/sites-available/certmgr-lab-ssl",
                ctx.template("nginx/certmgr-lab-ssl", ADDRESS=ctx.address, CERT=cert, KEY=key))
        t.remove("/etc/nginx/sites-enabled/default")
        # Relative, so that the link resolves inside the host tree from outside it too.
        t.symlink("/etc/nginx/sites-enabled/certmgr-lab-ssl",
                  "../sites-available/certmgr-lab-ssl")
        t.mkdir("/var/lib/certmgr-lab/www")
        t.mkdir("/var/log/nginx", mode=0o755, group="adm")
        t.mkdir("/var/lib/nginx")  # nginx makes its temp directories (body...) in it

    def service(self, ctx: LabContext) -> ServiceEntry:
        log = "/var/log/nginx/startup.log"
        # nginx daemonizes (Debian's "daemon on; master_process on;") and writes its pid file.
        return ServiceEntry(
            name=self.name, user="root",
            start=sh("/usr/sbin/nginx", log), reload=("nginx", "-s", "reload"),
            pid_file="/run/nginx.pid", logs=(log, "/var/log/nginx/error.log"),
            endpoints=self.endpoints(ctx.address),
        )


LAB = NginxLab()
