"""One validation path: the CLI loader and FastMix.fit refuse the same tables with the same message."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.errors import InputError
from engine.fastmix import FastMix
from engine.simulate import simulate_study
from engine.study_inputs import align_inputs
from study.fastmix_cli import load_inputs


@pytest.fixture(scope="module")
def sim():
    return simulate_study(300, 20, seed=5)


def _break(kind: str, sim):
    expr, props, cov = sim.expression.copy(), sim.proportions.copy(), sim.covariates.copy()
    weights = pd.Series(1.0, index=props.index)
    if kind == "constant cell type":
        props.iloc[:, 2] = 0.01
    elif kind == "covariate NA":
        cov = cov.astype(object)
        cov.iloc[3, 0] = None
    elif kind == "weight":
        weights.iloc[2] = 0.0
    elif kind == "expression inf":
        expr.iloc[7, 4] = np.inf
    elif kind == "proportion text":
        props = props.astype(object)
        props.iloc[1, 0] = "abc"
    return expr, props, cov, weights


CASES = {
    "constant cell type": r"column 'Monocytes': cell type 'Monocytes' has the same proportion",
    "covariate NA": r"row '\w+': value is missing",
    "weight": r"row '\w+': weight 0 is not positive",
    "expression inf": r"row 'Gene\d+': value is not finite \(inf\)",
    "proportion text": r"row '\w+': value 'abc' is not a number",
}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_cli_and_estimator_refuse_alike(sim, kind):
    expr, props, cov, weights = _break(kind, sim)
    with pytest.raises(InputError, match=CASES[kind]) as cli:
        load_inputs(expr, props, cov, weights=weights)
    with pytest.raises(InputError, match=CASES[kind]) as est:
        FastMix(permutations=0).fit(expr, props, cov, weights=weights)
    assert str(cli.value).split(": ", 1)[1] == str(est.value).split(": ", 1)[1]  # same text after the file


def test_clean_inputs_give_the_same_study(sim):
    a = load_inputs(sim.expression, sim.proportions, sim.covariates)
    b = align_inputs(sim.expression, sim.proportions, sim.covariates)
    assert a.samples == b.samples and a.notices == b.notices
    pd.testing.assert_frame_equal(a.proportions, b.proportions)
    pd.testing.assert_frame_equal(a.expression, b.expression)
