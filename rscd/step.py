"""stpipe integration: ``RscdFastStep``, a drop-in for jwst's ``RscdStep``, and a
``calwebb_detector1`` pipeline that uses it.

Needs jwst (``pip install ".[jwst]"`` in the clone); this is the only module of the package that
imports jwst. Registered with stpipe through the ``stpipe.steps`` entry point
(:mod:`rscd.stpipe_steps`), so both of these work::

    strun rscd_fast jw..._linearity.fits --override_rscd my_rscd.fits
    strun rscd.step.RscdFastStep jw..._linearity.fits --method decay

and in Python ``RscdFastStep.call(model_or_path, override_rscd="my_rscd.fits")``.
"""
import logging
import os
import warnings
from typing import Any, Optional, Sequence, Tuple, Type

from stdatamodels.jwst import datamodels

from jwst.pipeline import Detector1Pipeline
from jwst.stpipe import Step
from stpipe.exceptions import StpipeExitException

from . import crds as rscd_crds
from .crds import crds_fatal_errors

from .correct import (TOO_FEW_GROUPS, DeprecatedReferenceWarning, NoReferenceRowWarning,
                      Result, RSCDWarning)
from .model import apply_model
from .reference import Reference, SkipRow, read_reference

__all__ = ["RscdFastStep", "RscdFastDetector1Pipeline"]

log = logging.getLogger(__name__)


def _reference_from_model(ref_model: Any) -> Reference:
    """A ``Reference`` from an already open stdatamodels ``RSCDModel`` (stpipe passes
    one through when ``override_rscd`` is a datamodel rather than a path)."""
    table = getattr(ref_model, "rscd_group_skip_table", None)
    if table is None:
        raise TypeError(f"override_rscd: {type(ref_model).__name__} has no "
                        "rscd_group_skip_table; pass a reference file path instead")
    names = {n.lower(): n for n in table.dtype.names}
    rows = []
    for row in table:
        text = [v.decode() if isinstance(v, bytes) else str(v)
                for v in (row[names["subarray"]], row[names["readpatt"]])]
        skip1 = int(row[names["group_skip1"]]) if "group_skip1" in names else -1
        # Rows as the table spells them: the pipeline never renames a table's SUBPRISM.
        rows.append(SkipRow(text[0].rstrip(), text[1].rstrip(), skip1,
                            int(row[names["group_skip"]])))
    filename = getattr(ref_model.meta, "filename", None) or "RSCDModel"
    return Reference(name=os.path.basename(filename), detector=ref_model.meta.instrument.detector,
                     skip_rows=tuple(rows))


def _log_pipeline_lines(res: Result, categories: Sequence[Type[Warning]]) -> None:
    """The lines jwst 3.0.0's RscdStep logs for what happened (users and their scripts
    search the log for them), before rscd's own, more detailed lines."""
    if any(issubclass(c, DeprecatedReferenceWarning) for c in categories):
        log.warning("RSCD reference file is of a deprecated model.")
        log.warning("There are no values for first integration")
        log.warning("Setting number of groups to skip in first integration to 1")
    if any(issubclass(c, NoReferenceRowWarning) for c in categories):
        log.warning("READPATT, SUBARRAY combination not found in ref file: "
                    "RSCD correction will be skipped")
    if res.status == "SKIPPED" and str(res.reason).startswith(TOO_FEW_GROUPS):
        log.warning("Too few groups to apply RSCD correction")
        log.warning("RSCD step will be skipped")


class RscdFastStep(Step):
    """Flag (or, with ``method=decay``, correct) the RSCD-affected groups of MIRI ramps.

    The same job, inputs, outputs and metadata as jwst's ``RscdStep`` (``method=flag``
    is bit for bit identical to it), done by rscd's C core. ``method=decay`` applies
    the earlier pipeline's exponential-decay correction to the SCI data instead; it
    needs a reference file with an ``RSCD`` decay table.
    """

    class_alias = "rscd_fast"

    spec = """
    method = option('auto', 'flag', 'decay', 'measured', default='auto')  # auto: flag when the reference has RSCD_GROUP_SKIP, else decay (RSCD), else measured
    threads = integer(min=1, default=None)  # threads for the C core (default None: rscd chooses, every core)
    """  # noqa: E501

    reference_file_types = ["rscd"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.parent is not None:
            # stpipe records a skipped step as meta.cal_step.<class_alias>; inside a
            # pipeline this step stands for "rscd", so a skip must land in S_RSCD too.
            self.class_alias = "rscd"

    #: The ``rscd.Result`` of the last ``process`` call (None before, or when skipped
    #: without looking at the data).
    rscd_result: Optional[Result] = None

    @classmethod
    def _get_config_from_parameters(cls, crds_parameters, crds_observatory):
        # CRDS has no parameter reference (pars-rscdfaststep) for this step: asking for
        # one only makes CRDS log an "Unknown reference type" error.
        return cls._empty_config()

    @staticmethod
    def get_stpipe_loggers() -> Tuple[str, ...]:
        """jwst's loggers plus ``rscd``, so strun shows and records our messages."""
        return Step.get_stpipe_loggers() + ("rscd",)

    def default_suffix(self) -> str:
        """Outputs are named ``*_rscd.fits``, like the pipeline's rscd step inside
        ``calwebb_detector1`` (a suffix jwst knows how to replace)."""
        return "rscd"

    def process(self, step_input: Any) -> Any:
        """Flag or correct the RSCD-affected groups.

        Parameters
        ----------
        step_input : str or stdatamodels.jwst.datamodels.RampModel
            Ramp file or model (after the linearity step in calwebb_detector1).

        Returns
        -------
        stdatamodels.jwst.datamodels.RampModel
            The corrected model, ``meta.cal_step.rscd`` set as jwst's step sets it.
        """
        result = self.prepare_output(step_input, open_as_type=datamodels.RampModel)
        self.rscd_result = None

        detector = result.meta.instrument.detector
        # jwst's step tests the case too (rscd.correct.is_miri does not), so this step
        # skips exactly what jwst's skips, with its log lines.
        if not str(detector).startswith("MIR"):
            log.warning("RSCD correction is only for MIRI data")
            log.warning("RSCD step will be skipped")
            result.meta.cal_step.rscd = "SKIPPED"
            return result

        ref_name = self._reference_file(result)
        log.info("Using RSCD reference file %s", ref_name)
        if isinstance(ref_name, str) and ref_name == "N/A":
            log.warning("No RSCD reference file found")
            log.warning("RSCD step will be skipped")
            result.meta.cal_step.rscd = "SKIPPED"
            return result

        reference = (read_reference(ref_name) if isinstance(ref_name, (str, os.PathLike))
                     else _reference_from_model(ref_name))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RSCDWarning)
            res = apply_model(result, reference, method=self.method, threads=self.threads)
        _log_pipeline_lines(res, [w.category for w in caught])
        for w in caught:
            if issubclass(w.category, RSCDWarning):
                log.warning("%s", w.message)
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        self.rscd_result = res
        log.info("RSCD %s", res.summary())
        return result

    def _reference_file(self, model: Any) -> Any:
        """``get_reference_file(model, "rscd")``; when CRDS has to be asked and cannot
        load (no cache, no server), one error line saying what to set instead of CRDS's
        fatal exit."""
        if self.get_ref_override("rscd") is not None:
            return self.get_reference_file(model, "rscd")
        with crds_fatal_errors() as crds_said:
            try:
                return self.get_reference_file(model, "rscd")
            except SystemExit:
                pass
        raise CRDSUnavailableExit(
            rscd_crds.unavailable_message(crds_said, option="--override_rscd REF.fits"))

    def finalize_result(self, result: Any, reference_files_used: Any) -> None:
        """jwst's ``finalize_result``, except that CRDS is not asked for its context when
        every reference file was given (``override_rscd``): offline runs finish, and the
        log says so in one line (``meta.ref_file.crds`` then stays unset)."""
        given = [(reftype, name) for reftype, name in reference_files_used
                 if self.get_ref_override(reftype) is not None]
        if reference_files_used and len(given) == len(reference_files_used):
            for reftype, name in given:
                getattr(result.meta.ref_file, reftype).name = name
            log.info("every reference file was given (override_rscd): CRDS not asked, "
                     "no CRDS context recorded")
            reference_files_used = []
        super().finalize_result(result, reference_files_used)


class CRDSUnavailableExit(StpipeExitException, rscd_crds.CRDSUnavailable):
    """No reference file given and CRDS cannot be reached: ``strun`` shows the message
    (one line that says what to set) in its error box and exits with status 1, without
    a traceback; from Python it is an ``rscd.crds.CRDSUnavailable`` like
    ``rscd.crds.find_reference``'s."""

    def __init__(self, message: str) -> None:
        super().__init__(1, message)

    def __str__(self) -> str:
        return str(self.args[1])


class RscdFastDetector1Pipeline(Detector1Pipeline):
    """``calwebb_detector1`` with ``RscdFastStep`` as its ``rscd`` step.

    Everything else (steps, order, parameters, outputs) is jwst's Detector1Pipeline;
    the ``rscd`` step accepts the extra ``method`` and ``threads`` parameters.
    Select it with ``strun calwebb_detector1_rscd_fast`` or with
    ``class: rscd.step.RscdFastDetector1Pipeline`` in a parameter file.
    """

    class_alias = "calwebb_detector1_rscd_fast"

    get_stpipe_loggers = RscdFastStep.get_stpipe_loggers

    @classmethod
    def get_config_reftype(cls):
        """CRDS parameters of calwebb_detector1 (pars-detector1pipeline) apply unchanged."""
        return Detector1Pipeline.get_config_reftype()

    step_defs = {**Detector1Pipeline.step_defs, "rscd": RscdFastStep}
