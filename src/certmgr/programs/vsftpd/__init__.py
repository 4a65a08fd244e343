"""vsftpd: discovery of vsftpd.conf; no configuration test (a dry start would bind its live
port); restart only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from certmgr.programs.spec import ProgramSpec, ReloadContext, ServiceControlView
from certmgr.programs.styles import EQUALS, LineStyle

__all__ = ["NOTE", "SPEC", "Vsftpd"]

NOTE = ("vsftpd has no configuration test (a dry start would bind its live port): only the "
        "file checks are made before it is restarted")


class Vsftpd(ProgramSpec):
    name: ClassVar[str] = "vsftpd"
    title: ClassVar[str] = "vsftpd"
    seed_dir: ClassVar[str | None] = "/etc/vsftpd"
    style: ClassVar[LineStyle] = EQUALS
    new_lines: ClassVar[Mapping[str, str]] = {"key": "rsa_private_key_file={path}",
                                              "ca": "ca_certs_file={path}"}
    plan_notes: ClassVar[tuple[str, ...]] = (NOTE,)
    apparmor_binaries: ClassVar[tuple[str, ...]] = ("/usr/sbin/vsftpd",)
    unit: ClassVar[str] = "vsftpd"

    def reload_method(self, control: ServiceControlView) -> str:
        # It loads its certificate once at start-up; FTP sessions in progress survive.
        return f"restart ({control.describe('vsftpd')}); {NOTE}"

    def reload(self, ctx: ReloadContext) -> str:
        return ctx.control.restart("vsftpd", self.unit)


SPEC = Vsftpd()
