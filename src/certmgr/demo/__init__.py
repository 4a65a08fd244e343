"""``certmgr demo``: the seed report's whole evaluation, told on a lab host."""

from certmgr.demo.runner import DemoFailed, Step, StepResult
from certmgr.demo.story import SEED_DEFINITIONS, run_story

__all__ = ["SEED_DEFINITIONS", "DemoFailed", "Step", "StepResult", "run_story"]
