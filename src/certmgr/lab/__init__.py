"""certmgr's lab: the seed's six server programs running for real in test hosts.

A lab host is a network namespace + a persistent mount namespace + a tree
``<lab>/<host>/`` whose ``etc``, ``var/lib``... are the host's own. See
:func:`lab_up`, :func:`lab_status`, :func:`lab_down` and
:class:`certmgr.hosts.lab.LabHost`.
"""

from certmgr.lab.core import lab_down, lab_up
from certmgr.lab.register import register_hosts, unregister_hosts
from certmgr.lab.state import LabHostState, LabState, load_state
from certmgr.lab.status import lab_status

__all__ = [
    "LabHostState",
    "LabState",
    "lab_down",
    "lab_status",
    "lab_up",
    "load_state",
    "register_hosts",
    "unregister_hosts",
]
