"""OpenLDAP slapd: cn=config over ldapi (TLS context rebuilt live), or slapd.conf + restart.

slapd reads its key as ``openldap`` after dropping privileges, so the key is
``root:openldap 0640``. A live modify with a bad pair leaves TLS dead (err=80),
which is why preflight checks the pair before anything reaches slapd.
"""

from __future__ import annotations

import posixpath
import re
from typing import ClassVar

from certmgr.deploy.model import DeployPlan
from certmgr.deploy.programs.base import KeyFormat, ReloadContext
from certmgr.deploy.programs.control import ServiceControl
from certmgr.deploy.programs.simple import run_test, tail
from certmgr.errors import ReloadFailed
from certmgr.hosts.base import WritableHost
from certmgr.models import ServiceKind

# cn=config attribute per slot role.
ATTRIBUTES = {"cert": "olcTLSCertificateFile", "key": "olcTLSCertificateKeyFile",
              "ca": "olcTLSCACertificateFile"}


def uses_cn_config(config: str) -> bool:
    return config.endswith(".ldif") or "/slapd.d" in config


class Slapd:
    kind: ClassVar[ServiceKind] = ServiceKind.SLAPD
    style: ClassVar[str] = "space"
    reads_key_as_user: ClassVar[bool] = True
    key_format: ClassVar[str] = KeyFormat.PEM
    unit: ClassVar[str] = "slapd"
    settle: ClassVar[float] = 6.0

    def reload_method(self, control: ServiceControl) -> str:
        return (f"ldapmodify over {self._ldapi(control)} replacing the TLS attributes of "
                "cn=config (slapd.conf: restart)")

    @staticmethod
    def _ldapi(control: ServiceControl) -> str:
        # The URL slapd was started with (-h "... ldapi://..."), else the default socket.
        entry = control.entry("slapd")
        found = re.search(r"ldapi://[^\s'\"]*", " ".join(entry.start)) if entry else None
        return found.group(0) if found else "ldapi:///"

    def config_test(self, host: WritableHost, plan: DeployPlan) -> str | None:
        config = plan.target.config
        if uses_cn_config(config):
            directory = config if not config.endswith(".ldif") else posixpath.dirname(config)
            return run_test(host, ["slaptest", "-u", "-F", directory], "slaptest")
        return run_test(host, ["slaptest", "-u", "-f", config], "slaptest")

    def reload(self, ctx: ReloadContext) -> str:
        change = ctx.plan.ldap
        if change is None:
            return ctx.control.restart("slapd", self.unit)
        values = change.old if ctx.restoring else change.new
        url = self._ldapi(ctx.control)
        argv = ["ldapmodify", "-Q", "-Y", "EXTERNAL", "-H", url]
        result = ctx.host.run(argv, input=change.ldif(values), check=False, timeout=60)
        if not result.ok:
            raise ReloadFailed(f"slapd refused the TLS change over {url} (exit "
                               f"{result.returncode}): {tail(result)}")
        return f"ldapmodify -H {url} ({', '.join(values)})"
