"""vsftpd: no configuration test (a dry start would bind its live port); restart only."""

from __future__ import annotations

from typing import ClassVar

from certmgr.deploy.model import DeployPlan
from certmgr.deploy.programs.base import KeyFormat, ReloadContext
from certmgr.deploy.programs.control import ServiceControl
from certmgr.hosts.base import WritableHost
from certmgr.models import ServiceKind

NOTE = ("vsftpd has no configuration test (a dry start would bind its live port): only the "
        "file checks are made before it is restarted")


class Vsftpd:
    kind: ClassVar[ServiceKind] = ServiceKind.VSFTPD
    style: ClassVar[str] = "equals"
    reads_key_as_user: ClassVar[bool] = False
    key_format: ClassVar[str] = KeyFormat.PEM
    unit: ClassVar[str] = "vsftpd"
    settle: ClassVar[float] = 6.0

    def reload_method(self, control: ServiceControl) -> str:
        # It loads its certificate once at start-up; FTP sessions in progress survive.
        return f"restart ({control.describe('vsftpd')}); {NOTE}"

    def config_test(self, host: WritableHost, plan: DeployPlan) -> str | None:
        return None

    def reload(self, ctx: ReloadContext) -> str:
        return ctx.control.restart("vsftpd", self.unit)
