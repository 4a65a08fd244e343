"""Dovecot: ``doveconf -n`` (reads the ``<file`` values), then ``dovecot reload``."""

from __future__ import annotations

from typing import ClassVar

from certmgr.deploy.model import DeployPlan
from certmgr.deploy.programs.base import KeyFormat, ReloadContext
from certmgr.deploy.programs.control import ServiceControl
from certmgr.deploy.programs.simple import config_flag, run_test
from certmgr.hosts.base import WritableHost
from certmgr.models import ServiceKind


class Dovecot:
    kind: ClassVar[ServiceKind] = ServiceKind.DOVECOT
    style: ClassVar[str] = "equals"
    reads_key_as_user: ClassVar[bool] = False
    key_format: ClassVar[str] = KeyFormat.PEM
    unit: ClassVar[str] = "dovecot"
    settle: ClassVar[float] = 6.0

    def reload_method(self, control: ServiceControl) -> str:
        return f"dovecot reload ({control.describe('dovecot')})"

    @staticmethod
    def _flag(plan: DeployPlan) -> list[str]:
        return config_flag("-c", plan.target.config, "/etc/dovecot/dovecot.conf")

    def config_test(self, host: WritableHost, plan: DeployPlan) -> str | None:
        return run_test(host, ["doveconf", *self._flag(plan), "-n"], "doveconf -n")

    def reload(self, ctx: ReloadContext) -> str:
        return ctx.control.reload("dovecot", ["dovecot", *self._flag(ctx.plan), "reload"],
                                  self.unit)
