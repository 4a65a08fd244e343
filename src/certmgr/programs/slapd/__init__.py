"""OpenLDAP slapd: discovery of cn=config and slapd.conf; deploy through cn=config over ldapi
(TLS context rebuilt live), or slapd.conf + restart.

slapd reads its key as ``openldap`` after dropping privileges, so the key is
``root:openldap 0640``. A live modify with a bad pair leaves TLS dead (err=80),
which is why preflight checks the pair before anything reaches slapd.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from certmgr.errors import ReloadFailed
from certmgr.programs.spec import ConfigTest, ProgramSpec, ReloadContext, ServiceControlView
from certmgr.programs.styles import SPACE, LineStyle
from certmgr.programs.tools import tail

if TYPE_CHECKING:
    from certmgr.hosts.base import Host

__all__ = ["ATTRIBUTES", "SPEC", "LdapChange", "Slapd", "uses_cn_config"]

# cn=config attribute per slot role.
ATTRIBUTES = {"cert": "olcTLSCertificateFile", "key": "olcTLSCertificateKeyFile",
              "ca": "olcTLSCACertificateFile"}


def uses_cn_config(config: str) -> bool:
    return config.endswith(".ldif") or "/slapd.d" in config


@dataclass(frozen=True)
class LdapChange:
    """cn=config attributes slapd must take (``new``) and what they are now (``old``)."""

    dn: str
    new: Mapping[str, str]
    old: Mapping[str, str]

    def ldif(self, values: Mapping[str, str]) -> bytes:
        lines = [f"dn: {self.dn}", "changetype: modify"]
        for attr, value in values.items():
            lines += [f"replace: {attr}", f"{attr}: {value}", "-"]
        return ("\n".join(lines) + "\n").encode()

    def to_json(self) -> dict[str, Any]:
        return {"dn": self.dn, "old": dict(self.old), "new": dict(self.new)}


def _test_argv(_host: Host, config: str) -> list[str]:
    if uses_cn_config(config):
        directory = config if not config.endswith(".ldif") else posixpath.dirname(config)
        return ["slaptest", "-u", "-F", directory]
    return ["slaptest", "-u", "-f", config]


class Slapd(ProgramSpec):
    name: ClassVar[str] = "slapd"
    title: ClassVar[str] = "slapd"
    seed_dir: ClassVar[str | None] = "/etc/ldap"
    style: ClassVar[LineStyle] = SPACE
    new_lines: ClassVar[Mapping[str, str]] = {"key": "TLSCertificateKeyFile {path}",
                                              "ca": "TLSCACertificateFile {path}"}
    reads_key_as_user: ClassVar[bool] = True
    # slapd needs a trusted-CA file even without client certificates (the seed's note).
    needs_ca_file: ClassVar[bool] = True
    includes_are_shared: ClassVar[bool] = False  # cn=config entries are files of their own
    apparmor_binaries: ClassVar[tuple[str, ...]] = ("/usr/sbin/slapd",)
    # Deploy's test only: slaptest reads the whole database configuration.
    config_test_spec: ClassVar[ConfigTest | None] = ConfigTest(
        "slaptest", "slaptest", _test_argv, read_only=False)
    unit: ClassVar[str] = "slapd"

    def live_change(self, config: str, new: Mapping[str, str],
                    old: Mapping[str, str]) -> LdapChange | None:
        if not uses_cn_config(config):
            return None
        return LdapChange("cn=config",
                          {ATTRIBUTES[r]: p for r, p in new.items() if r in ATTRIBUTES},
                          {ATTRIBUTES[r]: p for r, p in old.items() if r in ATTRIBUTES})

    def reload_method(self, control: ServiceControlView) -> str:
        return (f"ldapmodify over {self._ldapi(control)} replacing the TLS attributes of "
                "cn=config (slapd.conf: restart)")

    @staticmethod
    def _ldapi(control: ServiceControlView) -> str:
        # The URL slapd was started with (-h "... ldapi://..."), else the default socket.
        entry = control.entry("slapd")
        found = re.search(r"ldapi://[^\s'\"]*", " ".join(entry.start)) if entry else None
        return found.group(0) if found else "ldapi:///"

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


SPEC = Slapd()
