"""HAProxy on a lab host, in master-worker mode as Debian's unit runs it: the master as root,
workers as haproxy; a reload is ``haproxy -c`` then SIGUSR2 to the master.

Its credential is one combined PEM file (certificate and key), root:root 0600.
It runs only when asked for, on port 4432.
"""

from __future__ import annotations

from typing import ClassVar

from certmgr.hosts.servicetable import ServiceEntry
from certmgr.models import TlsMode
from certmgr.programs.lab import LabContext, LabCredential, LabProgram, Ports, sh
from certmgr.programs.policy import key_dir_mode, key_mode

__all__ = ["LAB", "HaproxyLab"]


class HaproxyLab(LabProgram):
    name: ClassVar[str] = "haproxy"
    ports: ClassVar[Ports] = ((4432, TlsMode.DIRECT),)
    config: ClassVar[str] = "/etc/haproxy/haproxy.cfg"
    pid_file: ClassVar[str] = "/run/haproxy.pid"

    def install(self, ctx: LabContext) -> None:
        t = ctx.tree
        cred: LabCredential
        if ctx.layout == "debian":
            # HAProxy takes no separately named key file: an admin puts a combined copy
            # of the snakeoil pair where Debian's haproxy.cfg has its crt-base.
            assert ctx.snakeoil is not None
            cred, pem = ctx.snakeoil, "/etc/ssl/private/ssl-cert-snakeoil-combined.pem"
        else:
            cred = ctx.self_signed("www.example.com")
            pem = "/etc/haproxy/ssl/private/www.example.com.pem"
            t.mkdir("/etc/haproxy/ssl/private", mode=key_dir_mode(False))
        ctx.fingerprints[self.name] = cred.sha256
        t.write(pem, cred.cert_pem + cred.key_pem, mode=key_mode(False))
        t.write(self.config, ctx.template("haproxy/haproxy.cfg", ADDRESS=ctx.address, PEM=pem))
        t.mkdir("/var/lib/haproxy")  # its chroot

    def service(self, ctx: LabContext) -> ServiceEntry:
        log = "/var/log/haproxy.startup.log"
        # -W master-worker, -D daemon, -p the master's pid, -S the master CLI (Debian's
        # EXTRAOPTS). Start-up alerts go to the log before it detaches.
        start = ("mkdir -p -m 0755 /run/haproxy; exec /usr/sbin/haproxy -W -D "
                 f"-f {self.config} -p {self.pid_file} -S /run/haproxy-master.sock")
        reload = (f"haproxy -c -q -f {self.config} && "
                  f"kill -USR2 \"$(cat {self.pid_file})\"")
        return ServiceEntry(
            name=self.name, user="root", start=sh(start, log),
            reload=("sh", "-c", reload), pid_file=self.pid_file, logs=(log,),
            endpoints=self.endpoints(ctx.address),
        )


LAB = HaproxyLab()
