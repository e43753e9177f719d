"""The ``stpipe.steps`` entry point: the steps and pipelines rscd gives ``strun``.

Only class paths are listed here, so stpipe can find ``rscd_fast`` without importing jwst
(:mod:`rscd.step` imports it) until the step is used, and an environment with stpipe but
without jwst loads this entry point without error.
"""
from typing import List, Tuple

__all__ = ["get_steps"]


def get_steps() -> List[Tuple[str, str, bool]]:
    """``(class path, class alias, is a pipeline)`` for each step, as stpipe expects."""
    return [
        ("rscd.step.RscdFastStep", "rscd_fast", False),
        ("rscd.step.RscdFastDetector1Pipeline", "calwebb_detector1_rscd_fast", True),
    ]
