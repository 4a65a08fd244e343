"""The server programs certmgr manages: one package per program, listed once in the registry.

Each program's package holds its whole spec (a
:class:`~certmgr.programs.spec.ProgramSpec` named ``SPEC`` in its
``__init__``): how discovery reads its configuration (``discovery.py``), where
the seed layout puts its files and how a configuration line is changed, its
configuration test, how it is made to load new files, Table 1's policy for it
(who reads the key; :mod:`certmgr.programs.policy` holds the rule itself), the
binaries its AppArmor profile attaches to. :mod:`certmgr.programs.registry`
lists the programs once and makes :class:`ServiceKind` from them; discover,
check, deploy, ``layout`` and the CLI's help iterate it and name no program.

This layer sits below deploy, checks and the lab, above hosts, pki and models
(the layer contract; ``tests/services/test_registry.py`` holds it to that): a
spec reaches the host only through hosts-level primitives (run a command, the
service table, a pid), and what deploy must carry out (files, edits, the
cn=config change) is data it returns.

Adding a program (called ``name`` here, ``NAME`` as a kind):

1. ``programs/name/discovery.py``: an adapter (subclass
   :class:`~certmgr.programs.base.FindsConfigFile`, set ``name`` and
   ``config_candidates``, write ``discover``), as ``ADAPTER``, returning a
   :class:`~certmgr.programs.base.Service` and its slots; a configuration it
   cannot read is a CONFIG_ERROR in the context, never an exception.
2. ``programs/name/__init__.py``: a :class:`ProgramSpec` subclass with its
   data (``title``, ``seed_dir``, ``style``, ``new_lines``, ``reads_key_as_user``,
   ``key_format``, ``apparmor_binaries``, ``config_test_spec``, ``unit``) and its
   ``reload_method``/``reload`` (override ``config_test``, ``new_line``,
   ``live_change`` or ``combined_pem`` only where the defaults do not fit); then
   ``SPEC = Name()``.
3. In :mod:`certmgr.programs.registry`: ``NAME = name.SPEC`` in the enum (and
   ``name,`` in its import list).
4. A fixture tree under ``tests/fixtures/`` and one test file for discovery and
   the spec.
5. For ``certmgr lab`` (optional): ``programs/name/lab.py`` with ``LAB``, a
   :class:`~certmgr.programs.lab.LabProgram`, and its template data under
   ``lab/templates/name/`` (a program whose packages cannot be installed beside
   the others gives its unpacked packages as ``usr_layer``).

Nothing else changes: discover, check (Table 1, AppArmor, the read-only config
test), deploy (layout, edits, config test, reload, verify, rollback), ``layout``,
the lab and the CLI's help all take the program from the registry.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from certmgr.programs.registry import PROGRAMS, ServiceKind, spec_for
from certmgr.programs.spec import ProgramSpec

if TYPE_CHECKING:
    from certmgr.programs.base import DiscoveryContext, Service, ServiceAdapter, Setting, Slot
    from certmgr.programs.discovery import Discovery, adapter_for, discover_host

__all__ = [
    "PROGRAMS",
    "Discovery",
    "DiscoveryContext",
    "ProgramSpec",
    "Service",
    "ServiceAdapter",
    "ServiceKind",
    "Setting",
    "Slot",
    "adapter_for",
    "discover_host",
    "spec_for",
]

# Discovery (and its parsers) is loaded on first use: listing the programs, as the
# CLI's help does, loads only the registry and the specs.
_LAZY = {"DiscoveryContext": "base", "Service": "base", "ServiceAdapter": "base",
         "Setting": "base", "Slot": "base", "Discovery": "discovery",
         "adapter_for": "discovery", "discover_host": "discovery"}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
