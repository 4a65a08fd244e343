"""Hosts: where files live and commands run (local, ``--root`` trees, lab, SSH)."""

from certmgr.hosts.base import CommandResult, FileStat, Host
from certmgr.hosts.local import LocalHost

__all__ = ["CommandResult", "FileStat", "Host", "LocalHost"]
