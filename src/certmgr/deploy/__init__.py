"""Deployment: put a certificate where its program reads it, reload, prove it, or roll back.

Every file change goes through :mod:`certmgr.deploy.fsops` (journaled, atomic,
undoable); :mod:`certmgr.deploy.checkpoints` names the steps.
"""

from certmgr.deploy.checkpoints import CHECKPOINTS, DeployInterrupted
from certmgr.deploy.fsops import FileTransaction, RollbackStep, recover_pending
from certmgr.deploy.journal import FileJournalStore, JournalState, KeyFileCipher

__all__ = [
    "CHECKPOINTS",
    "DeployInterrupted",
    "FileJournalStore",
    "FileTransaction",
    "JournalState",
    "KeyFileCipher",
    "RollbackStep",
    "recover_pending",
]
