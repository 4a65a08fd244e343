"""Tomcat 10 on a lab host: HTTPS 8443 from a JKS keystore (seed) or the snakeoil pair (debian)."""

from __future__ import annotations

from typing import ClassVar

from certmgr.hosts.servicetable import ServiceEntry
from certmgr.models import TlsMode
from certmgr.programs.lab import LabContext, LabProgram, Ports, sh
from certmgr.programs.policy import key_dir_mode, key_mode

__all__ = ["KEYSTORE_PASSWORD", "LAB", "TomcatLab"]

KEYSTORE_PASSWORD = "changeit"  # noqa: S105 - the seed's documented keystore password

_CATALINA_ENV = (
    "CATALINA_HOME=/usr/share/tomcat10 CATALINA_BASE=/var/lib/tomcat10 "
    "CATALINA_PID=/run/tomcat10/catalina.pid CATALINA_OUT=/var/log/tomcat10/catalina.out "
    "CATALINA_TMPDIR=/tmp/tomcat10-tmp "
    "JAVA_OPTS='-Djava.awt.headless=true -Xms32m -Xmx128m -XX:+UseSerialGC "
    "-XX:TieredStopAtLevel=1 -XX:-UsePerfData'"
)


class TomcatLab(LabProgram):
    name: ClassVar[str] = "tomcat"
    ports: ClassVar[Ports] = ((8443, TlsMode.DIRECT),)
    default: ClassVar[bool] = True
    # Started first: it takes longest to come up, and the others start meanwhile.
    starts_early: ClassVar[bool] = True
    # The lab's Tomcat reads /etc/tomcat10/server.xml.
    seed_dir: ClassVar[str | None] = "/etc/tomcat10"
    start_timeout: ClassVar[float] = 120.0  # a JVM start
    var_lib_copies: ClassVar[tuple[str, ...]] = ("tomcat10",)  # its CATALINA_BASE

    def install(self, ctx: LabContext) -> None:
        t = ctx.tree
        if ctx.layout == "debian":
            cert, key = ctx.pem_pair(self.name, "", ())
            t.add_to_group("ssl-cert", "tomcat")
            attributes = f'certificateFile="{cert}"\n                         ' \
                         f'certificateKeyFile="{key}"'
        else:
            store = "/etc/tomcat10/ssl/private/www2.example.com.jks"
            cred = ctx.self_signed("www2.example.com", ("ftp.example.com",))
            ctx.fingerprints[self.name] = cred.sha256
            # Table 1: Tomcat reads its keystore as tomcat, so root:tomcat 0640 in 0750.
            t.mkdir("/etc/tomcat10/ssl/private", mode=key_dir_mode(True), group="tomcat")
            t.write(store, ctx.jks_keystore(cred, alias="tomcat", password=KEYSTORE_PASSWORD),
                    mode=key_mode(True), group="tomcat")
            attributes = (f'certificateKeystoreFile="{store}"\n                         '
                          f'certificateKeystoreType="JKS" '
                          f'certificateKeystorePassword="{KEYSTORE_PASSWORD}"\n'
                          '                         certificateKeyAlias="tomcat"')
        t.write("/etc/tomcat10/server.xml",
                ctx.template("tomcat/server.xml", ADDRESS=ctx.address,
                             CERTIFICATE_ATTRIBUTES=attributes), mode=0o640, group="tomcat")
        t.write("/etc/tomcat10/tomcat-users.xml",
                ctx.template("tomcat/tomcat-users.xml", MANAGER_PASSWORD=ctx.manager_password),
                mode=0o640, group="tomcat")
        t.write("/etc/tomcat10/certmgr-sslreload.curlrc",
                ctx.template("tomcat/sslreload.curlrc", ADDRESS=ctx.address,
                             MANAGER_PASSWORD=ctx.manager_password), mode=0o600)
        t.mkdir("/var/log/tomcat10", mode=0o750, owner="tomcat", group="adm")
        t.mkdir("/var/cache/tomcat10", mode=0o750, owner="tomcat", group="adm")

    def service(self, ctx: LabContext) -> ServiceEntry:
        log = "/var/log/tomcat10/startup.log"
        script = ("install -d -o tomcat -g tomcat -m 0755 /run/tomcat10 /tmp/tomcat10-tmp && "
                  f"env {_CATALINA_ENV} setpriv --reuid=tomcat --regid=tomcat --init-groups "
                  "/usr/share/tomcat10/bin/catalina.sh start")
        return ServiceEntry(
            name=self.name, user="tomcat",
            start=sh(script, log),
            reload=("curl", "-K", "/etc/tomcat10/certmgr-sslreload.curlrc"),
            pid_file="/run/tomcat10/catalina.pid",
            logs=(log, "/var/log/tomcat10/catalina.out"), endpoints=self.endpoints(ctx.address),
        )


LAB = TomcatLab()
