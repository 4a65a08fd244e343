"""Postfix: ``postfix check``, then ``postfix reload`` (new smtpd processes read the files)."""

from __future__ import annotations

from typing import ClassVar

from certmgr.deploy.model import DeployPlan
from certmgr.deploy.programs.base import KeyFormat, ReloadContext
from certmgr.deploy.programs.control import ServiceControl
from certmgr.deploy.programs.simple import config_flag, run_test
from certmgr.hosts.base import WritableHost
from certmgr.models import ServiceKind


class Postfix:
    kind: ClassVar[ServiceKind] = ServiceKind.POSTFIX
    style: ClassVar[str] = "equals"
    reads_key_as_user: ClassVar[bool] = False
    key_format: ClassVar[str] = KeyFormat.PEM
    unit: ClassVar[str] = "postfix"
    settle: ClassVar[float] = 6.0

    def reload_method(self, control: ServiceControl) -> str:
        return f"postfix reload ({control.describe('postfix')})"

    @staticmethod
    def _flag(plan: DeployPlan) -> list[str]:
        return config_flag("-c", plan.target.config, "/etc/postfix", directory=True)

    def config_test(self, host: WritableHost, plan: DeployPlan) -> str | None:
        return run_test(host, ["postfix", *self._flag(plan), "check"], "postfix check")

    def reload(self, ctx: ReloadContext) -> str:
        return ctx.control.reload("postfix", ["postfix", *self._flag(ctx.plan), "reload"],
                                  self.unit)
