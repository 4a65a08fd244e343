"""Dovecot: discovery of ``ssl_cert``/``ssl_key``; ``doveconf -n`` (reads the ``<file`` values),
then ``dovecot reload``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar

from certmgr.programs.spec import ConfigTest, ProgramSpec, ReloadContext, ServiceControlView
from certmgr.programs.styles import EQUALS, LineStyle
from certmgr.programs.tools import config_flag

if TYPE_CHECKING:
    from certmgr.hosts.base import Host

__all__ = ["SPEC", "Dovecot"]


def _flag(config: str) -> list[str]:
    return config_flag("-c", config, "/etc/dovecot/dovecot.conf")


def _test_argv(_host: Host, config: str) -> list[str]:
    return ["doveconf", *_flag(config), "-n"]


class Dovecot(ProgramSpec):
    name: ClassVar[str] = "dovecot"
    title: ClassVar[str] = "Dovecot"
    seed_dir: ClassVar[str | None] = "/etc/dovecot"
    style: ClassVar[LineStyle] = EQUALS
    new_lines: ClassVar[Mapping[str, str]] = {"key": "ssl_key = <{path}",
                                              "ca": "ssl_ca = <{path}"}
    apparmor_binaries: ClassVar[tuple[str, ...]] = ("/usr/sbin/dovecot",)
    config_test_spec: ClassVar[ConfigTest | None] = ConfigTest(
        "doveconf", "doveconf -n", _test_argv,
        (re.compile(r"Error in configuration file (?P<path>/\S+) line (?P<line>\d+): "
                    r"(?P<msg>.*)"),))
    unit: ClassVar[str] = "dovecot"

    def reload_method(self, control: ServiceControlView) -> str:
        return f"dovecot reload ({control.describe('dovecot')})"

    def reload(self, ctx: ReloadContext) -> str:
        return ctx.control.reload("dovecot", ["dovecot", *_flag(ctx.plan.target.config),
                                              "reload"], self.unit)


SPEC = Dovecot()
