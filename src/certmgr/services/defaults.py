"""Distribution defaults as data: where each program's configuration lives, who reads keys.

Each list is tried in order; the first existing file wins. Adding a
distribution is adding paths here, not a branch in an adapter.
"""

from __future__ import annotations

from typing import ClassVar

from certmgr.hosts.base import Host
from certmgr.models import ServiceKind

__all__ = ["CONFIG_CANDIDATES", "SEED_DIRS", "FindsConfigFile"]

CONFIG_CANDIDATES: dict[ServiceKind, tuple[str, ...]] = {
    # slapd: Debian/Ubuntu cn=config tree first (it wins when both exist), then slapd.conf.
    ServiceKind.SLAPD: ("/etc/ldap/slapd.d/cn=config.ldif", "/etc/ldap/slapd.conf",
                        "/etc/openldap/slapd.d/cn=config.ldif", "/etc/openldap/slapd.conf"),
    ServiceKind.APACHE2: ("/etc/apache2/apache2.conf", "/etc/httpd/conf/httpd.conf"),
    ServiceKind.VSFTPD: ("/etc/vsftpd.conf", "/etc/vsftpd/vsftpd.conf"),
    ServiceKind.POSTFIX: ("/etc/postfix/main.cf",),
    # The seed: with dovecot-postfix installed, Ubuntu 9.04 reads dovecot-postfix.conf.
    ServiceKind.DOVECOT: ("/etc/dovecot/dovecot-postfix.conf", "/etc/dovecot/dovecot.conf",
                          "/etc/dovecot.conf"),
    ServiceKind.TOMCAT: ("/etc/tomcat11/server.xml", "/etc/tomcat10/server.xml",
                         "/etc/tomcat9/server.xml", "/etc/tomcat8/server.xml",
                         "/etc/tomcat7/server.xml", "/etc/tomcat6/server.xml",
                         "/etc/tomcat/server.xml"),
    ServiceKind.NGINX: ("/etc/nginx/nginx.conf",),
    ServiceKind.HAPROXY: ("/etc/haproxy/haproxy.cfg",),
}

# The seed's per-program directory (Table 1); Tomcat's is its CATALINA_BASE conf dir.
SEED_DIRS: dict[ServiceKind, str] = {
    ServiceKind.SLAPD: "/etc/ldap",
    ServiceKind.APACHE2: "/etc/apache2",
    ServiceKind.VSFTPD: "/etc/vsftpd",
    ServiceKind.POSTFIX: "/etc/postfix",
    ServiceKind.DOVECOT: "/etc/dovecot",
    ServiceKind.NGINX: "/etc/nginx",
    ServiceKind.HAPROXY: "/etc/haproxy",
}

class FindsConfigFile:
    """``detect`` for adapters: the first of the program's usual config files that exists."""

    kind: ClassVar[ServiceKind]

    def detect(self, host: Host) -> str | None:
        return next((p for p in CONFIG_CANDIDATES[self.kind] if host.exists(p)), None)
