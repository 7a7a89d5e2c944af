"""Compensation: FCS spillover, CSV matrices, spectral (non-square) and pre-inverted matrices."""
from __future__ import annotations

import numpy as np
import pytest
from flowutils import compensate as fu_comp

from gating.compensation import Compensation
from gating.errors import InputError
from gating.sample import Sample, read_fcs


@pytest.fixture(scope="module")
def comp_sample(shared_dir):
    return read_fcs(shared_dir / "data/fcs/flowkit/test_comp_example.fcs")


def test_csv_matrix_read(shared_dir):
    c = Compensation.from_csv(shared_dir / "data/fcs/flowkit/comp_complete_example.csv")
    assert c.id == "comp_complete_example"
    assert c.detectors[:3] == ("Ax488-A", "PE-A", "PE-TR-A") and len(c.detectors) == 14
    assert c.matrix.shape == (14, 14)
    assert c.matrix[0, 1] == 0.2986 and c.matrix[1, 3] == 0.0726
    np.testing.assert_array_equal(np.diag(c.matrix), np.ones(14))


def test_csv_compensation_matches_flowutils_and_inverts(shared_dir, comp_sample):
    c = Compensation.from_csv(shared_dir / "data/fcs/flowkit/comp_complete_example.csv")
    out = c.apply(comp_sample.events, comp_sample.channels)
    idx = [comp_sample.channels.index(d) for d in c.detectors]
    ref = fu_comp.compensate(comp_sample.events.copy(), c.matrix, idx)
    np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-8)
    # re-applying the spillover to compensated values gives the raw detector signal back
    np.testing.assert_allclose(out[:, idx] @ c.matrix, comp_sample.events[:, idx], rtol=1e-9, atol=1e-6)
    # scatter and time untouched
    np.testing.assert_array_equal(out[:, 0], comp_sample.events[:, 0])


def test_from_spillover_uses_sample_matrix(comp_sample):
    c = Compensation.from_spillover(comp_sample)
    names, matrix = comp_sample.spillover
    assert c.id == "FCS" and c.detectors == tuple(names) == c.fluorochromes
    np.testing.assert_array_equal(c.matrix, matrix)
    no_spill = Sample.from_array(np.zeros((3, 2)), ["A", "B"], name="plain")
    with pytest.raises(InputError, match="no spillover"):
        Compensation.from_spillover(no_spill)


def test_nonsquare_unmixing_recovers_abundances():
    rng = np.random.default_rng(3)
    spectra = np.array([[1.0, 0.4, 0.1, 0.05, 0.0],
                        [0.1, 1.0, 0.6, 0.2, 0.1],
                        [0.0, 0.05, 0.3, 1.0, 0.7]])  # 3 fluorochromes x 5 detectors
    abund = rng.uniform(0, 1000, size=(200, 3))
    raw = abund @ spectra
    c = Compensation("spec", detectors=("d1", "d2", "d3", "d4", "d5"), fluorochromes=("F1", "F2", "F3"),
                     matrix=spectra)
    events = np.column_stack([rng.normal(size=200), raw])  # an extra non-detector column first
    np.testing.assert_allclose(c.unmix(events, ["FSC", "d1", "d2", "d3", "d4", "d5"]), abund, rtol=1e-9, atol=1e-7)
    assert c.channel_for("F2") == 1 and c.channel_for("d2") is None
    with pytest.raises(ValueError, match="not square"):
        c.apply(events, ["FSC", "d1", "d2", "d3", "d4", "d5"])


def test_inverted_matrix_applied_directly():
    s = np.array([[1.0, 0.2], [0.1, 1.0]])
    inv = np.linalg.inv(s)
    a = Compensation("a", ("x", "y"), ("x", "y"), s)
    b = Compensation("b", ("x", "y"), ("x", "y"), inv, inverted=True)
    ev = np.array([[100.0, 50.0], [3.0, 400.0]])
    np.testing.assert_allclose(a.unmix(ev, ["x", "y"]), b.unmix(ev, ["x", "y"]))


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(InputError, match="expected 2x3"):
        Compensation("bad", ("a", "b", "c"), ("f1", "f2"), np.eye(3))
    with pytest.raises(InputError, match="detector\\(s\\) c not in the sample"):
        Compensation("c", ("a", "c"), ("a", "c"), np.eye(2)).unmix(np.zeros((1, 2)), ["a", "b"])
    bad = tmp_path / "m.csv"
    bad.write_text("A,B\n1,x\n0,1\n")
    with pytest.raises(InputError, match="m.csv"):
        Compensation.from_csv(bad)


def test_dict_round_trip():
    c = Compensation("s", ("a", "b"), ("F1", "F2"), np.array([[1.0, 0.3], [0.2, 1.0]]))
    assert Compensation.from_dict(c.to_dict()) == c
