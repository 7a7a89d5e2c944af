"""Analysis options -> the inputs of one FastMix run -> the fitted estimator, without Qt.

The Analysis tab keeps the user's choices (cell types, covariates, options) in the project's
``analysis`` section; :func:`fit_inputs` turns them and the collected study into a
:class:`FitInputs` restricted to the matched samples, and :func:`run_fit` fits it (in a worker).
Values are checked by the same functions ``FastMix.fit`` and the command line use.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from engine.errors import InputError
from engine.inputs import require_numeric
from study.assembly import CollectedStudy

__all__ = ["DEFAULT_OPTIONS", "FitInputs", "fit_inputs", "run_fit"]

DEFAULT_OPTIONS: dict[str, Any] = {"trim": 0.5, "independent": False, "detector": "gmm",
                                   "include_covariate_main": True, "weighting": "none", "seed": 0,
                                   "variance": "moderated", "permutations": 200}


@dataclass(frozen=True)
class FitInputs:
    """Everything one FastMix run needs, restricted to the matched samples (sheet order)."""

    expression: pd.DataFrame
    proportions: pd.DataFrame
    covariates: pd.DataFrame | None
    reference: dict
    weights: pd.Series | None
    subject: pd.Series | None
    options: dict


def _weights_or_subject(study: CollectedStudy, samples: list[str], weighting: str):
    """(weights, subject) for the chosen sample weighting; a missing sheet role is an ``InputError``."""
    if weighting == "weights":
        if study.sheet.weights is None:
            raise InputError("weighting by known weights is chosen but no sheet column has the role 'Weight'",
                             hint="give the weight column the role 'Weight' on the Study tab, or choose "
                                  "no weighting")
        return study.sheet.weights.loc[samples], None
    if weighting == "subject":
        if study.sheet.subject is None:
            raise InputError("repeated measures are chosen but no sheet column has the role 'Subject ID'",
                             hint="give the subject column the role 'Subject ID' on the Study tab")
        return None, study.sheet.subject.loc[samples]
    return None, None


def fit_inputs(study: CollectedStudy, cells: Sequence[str], covariates: Sequence[str],
               options: dict) -> FitInputs:
    """The inputs of a run of ``cells`` x ``covariates`` on the samples all inputs share."""
    match = study.match
    if match is None or not match.common:
        raise InputError("no sample ID is shared by the sample sheet, the expression matrix and the cell "
                         "proportions", hint="check the Sample ID role and the IDs on the Study tab "
                                             "(the match report suggests fixes)")
    if study.date_ids:
        shown = ", ".join(study.date_ids[:6]) + (f" … (+{len(study.date_ids) - 6})" if len(study.date_ids) > 6 else "")
        raise InputError(f"{len(study.date_ids)} gene ID(s) look like dates Excel made from gene symbols ({shown})",
                         file=study.files.get("expression"),
                         hint="on the Study tab choose 'Restore symbols' (SEPT9, MARCH5, DEC1 where the date "
                              "maps to one symbol) or 'Keep as they are'")
    samples = list(match.common)
    props = study.proportions.loc[samples, list(cells)].astype(np.float64)
    chosen = [c for c in covariates if c in study.sheet.covariates.columns]
    cov = study.sheet.covariates.loc[samples, chosen] if chosen else None
    reference = {c: v for c, v in study.sheet.reference.items() if c in chosen}
    expr = study.expression.loc[:, samples]
    require_numeric(expr, study.files.get("expression"))  # the check FastMix.fit and the CLI make
    opts = {**DEFAULT_OPTIONS, **options}
    weights, subject = _weights_or_subject(study, samples, opts["weighting"])
    return FitInputs(expr, props, cov, reference, weights, subject, opts)


def run_fit(inputs: FitInputs, *, progress: Callable | None = None):
    """Fit FastMix (called in a worker thread); returns the fitted estimator."""
    from engine.fastmix import FastMix

    o = inputs.options
    fm = FastMix(trim=float(o["trim"]), independent=bool(o["independent"]), detector=o["detector"],
                 include_covariate_main=bool(o["include_covariate_main"]), random_state=int(o["seed"]),
                 variance=o.get("variance", "moderated"), permutations=int(o.get("permutations", 200)))
    return fm.fit(inputs.expression, inputs.proportions, inputs.covariates, reference=inputs.reference or None,
                  weights=inputs.weights, subject=inputs.subject, progress=progress)
