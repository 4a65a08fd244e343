"""Postfix: discovery of main.cf and master.cf; ``postfix check``, then ``postfix reload``
(new smtpd processes read the files)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar

from certmgr.programs.spec import ConfigTest, ProgramSpec, ReloadContext, ServiceControlView
from certmgr.programs.styles import EQUALS, LineStyle
from certmgr.programs.tools import config_flag

if TYPE_CHECKING:
    from certmgr.hosts.base import Host

__all__ = ["SPEC", "Postfix"]


def _flag(config: str) -> list[str]:
    return config_flag("-c", config, "/etc/postfix", directory=True)


def _test_argv(_host: Host, config: str) -> list[str]:
    return ["postfix", *_flag(config), "check"]


class Postfix(ProgramSpec):
    name: ClassVar[str] = "postfix"
    title: ClassVar[str] = "Postfix"
    seed_dir: ClassVar[str | None] = "/etc/postfix"
    style: ClassVar[LineStyle] = EQUALS
    new_lines: ClassVar[Mapping[str, str]] = {"key": "smtpd_tls_key_file = {path}",
                                              "ca": "smtpd_tls_CAfile = {path}"}
    apparmor_binaries: ClassVar[tuple[str, ...]] = ("/usr/lib/postfix/sbin/smtpd",
                                                    "/usr/lib/postfix/smtpd")
    # Not read-only: ``postfix check`` repairs things, so ``check`` never runs it.
    config_test_spec: ClassVar[ConfigTest | None] = ConfigTest(
        "postfix", "postfix check", _test_argv, read_only=False)
    unit: ClassVar[str] = "postfix"

    def new_line(self, role: str, path: str, anchor_directive: str) -> str:
        line = super().new_line(role, path, anchor_directive)
        if anchor_directive.startswith("-o "):
            # master.cf: the service's own override, next to its other -o lines.
            setting, _eq, value = line.partition("=")
            return f"-o {setting.strip()}={value.strip()}"
        return line

    def combined_pem(self, key: bytes, leaf: bytes, chain: bytes) -> bytes:
        # smtpd_tls_chain_files wants each key right before its chain.
        return key + leaf + chain

    def reload_method(self, control: ServiceControlView) -> str:
        return f"postfix reload ({control.describe('postfix')})"

    def reload(self, ctx: ReloadContext) -> str:
        return ctx.control.reload("postfix", ["postfix", *_flag(ctx.plan.target.config),
                                              "reload"], self.unit)


SPEC = Postfix()
