"""Saved results reopen exactly as they were (tables, calibration, calls), and a changed file is refused."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.errors import InputError
from engine.fastmix import FastMix
from engine.simulate import simulate_study
from study.results_store import read_results, write_results


@pytest.fixture(scope="module")
def results():
    s = simulate_study(400, 30, seed=11, planted_fraction=0.05)
    return FastMix(permutations=30, random_state=2).fit(s.expression, s.proportions, s.covariates).results_


def test_round_trip_keeps_every_table_and_the_calls(results, tmp_path):
    sha = write_results(results, tmp_path / "r.npz")
    back = read_results(tmp_path / "r.npz", sha256=sha)
    pd.testing.assert_frame_equal(back.to_frame(), results.to_frame(), check_dtype=False)
    pd.testing.assert_frame_equal(back.fixed_effects, results.fixed_effects, check_dtype=False)
    pd.testing.assert_frame_equal(back.covariance, results.covariance, check_dtype=False)
    assert back.terms == results.terms and back.term_kinds == results.term_kinds
    assert back.parameters == results.parameters and back.fdr_methods == results.fdr_methods
    assert {t: back.calls(t) for t in back.terms} == {t: results.calls(t) for t in results.terms}
    assert back.calibration.calls() == results.calibration.calls()
    assert back.calibration.curves == results.calibration.curves  # observed vs permuted-label curves
    for t, null in results.calibration._null.items():
        for a, b in zip(back.calibration._null[t], null):
            np.testing.assert_array_equal(a, b)
    assert back.summary() == results.summary()


def test_a_changed_or_foreign_file_is_refused(results, tmp_path):
    path = tmp_path / "r.npz"
    sha = write_results(results, path)
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match="r.npz: the saved results were changed"):
        read_results(path, sha256=sha)
    (tmp_path / "x.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="x.npz: not readable as saved FastMix results"):
        read_results(tmp_path / "x.npz")
