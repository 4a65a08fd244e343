"""Apache 2.4: ``apache2ctl -t``, then a graceful restart."""

from __future__ import annotations

from typing import ClassVar

from certmgr.deploy.model import DeployPlan
from certmgr.deploy.programs.base import KeyFormat, ReloadContext
from certmgr.deploy.programs.control import ServiceControl
from certmgr.deploy.programs.simple import run_test
from certmgr.hosts.base import WritableHost
from certmgr.models import ServiceKind


class Apache2:
    kind: ClassVar[ServiceKind] = ServiceKind.APACHE2
    style: ClassVar[str] = "space"
    reads_key_as_user: ClassVar[bool] = False
    key_format: ClassVar[str] = KeyFormat.PEM
    unit: ClassVar[str] = "apache2"
    settle: ClassVar[float] = 6.0

    def reload_method(self, control: ServiceControl) -> str:
        return f"graceful restart ({control.describe('apache2')})"

    def config_test(self, host: WritableHost, plan: DeployPlan) -> str | None:
        # "Syntax OK" says nothing about the key pair: preflight checked that already.
        return run_test(host, ["apache2ctl", "-t"], "Apache's configuration test")

    def reload(self, ctx: ReloadContext) -> str:
        return ctx.control.reload("apache2", ["apache2ctl", "graceful"], self.unit)
