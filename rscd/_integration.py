"""stpipe entry point (group ``stpipe.steps``): the steps and pipelines rscd provides.

Only names are listed here, so ``strun`` can find ``rscd_fast`` without importing jwst
until the step is actually used.
"""


def get_steps():
    """``(class path, class alias, is a pipeline)`` for each step, as stpipe expects."""
    return [
        ("rscd.step.RscdFastStep", "rscd_fast", False),
        ("rscd.step.RscdFastDetector1Pipeline", "calwebb_detector1_rscd_fast", True),
    ]
