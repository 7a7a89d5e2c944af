"""Batch gating: parallel workers, per-file errors, tidy counts, FastMix-ready proportions."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gating.batch import COUNT_COLUMNS, gate_batch, write_events_csv
from gating.dafi import DafiRefiner
from gating.errors import InputError
from gating.progress import Cancelled
from gating.sample import read_fcs
from gating.simulate import simulate_whole_blood, whole_blood_template, write_fcs

LEAVES = ["Neutrophils", "Monocytes", "T_cells", "B_cells", "NK_cells"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("fcs")
    paths = []
    for i, neut in enumerate([0.4, 0.6, 0.7]):
        s, _ = simulate_whole_blood(4000, seed=20 + i, proportions={"Neutrophils": neut})
        paths.append(write_fcs(s, d / f"subj{i}.fcs"))
    bad = d / "broken.fcs"
    bad.write_bytes(b"FCS3.1" + b" " * 100)
    return paths, bad


def test_batch_counts_match_single_file_gating(files, shared_dir):
    paths, bad = files
    other = shared_dir / "data" / "fcs" / "flowkit" / "test_data_2d_01.fcs"  # lacks the panel's channels
    st = whole_blood_template()
    res = gate_batch([paths[0], bad, paths[1], other, paths[2]], st, processes=2)
    assert list(res.counts.columns) == COUNT_COLUMNS
    assert list(res.samples) == ["subj0", "subj1", "subj2"]
    assert set(res.errors) == {str(bad), str(other)}
    assert "broken.fcs" in res.errors[str(bad)]
    assert "test_data_2d_01.fcs" in res.errors[str(other)] and "not found" in res.errors[str(other)]
    for p in paths:
        ref = st.evaluate(read_fcs(p)).counts()
        got = res.counts[res.counts["sample"] == p.stem].reset_index(drop=True)
        assert set(got.pop("engine")) == {"exact"}  # the app's own gates: exact event engine
        pd.testing.assert_frame_equal(got, ref)
    serial = gate_batch(paths, st, processes=1)
    pd.testing.assert_frame_equal(serial.counts, res.counts)


def test_proportions_for_fastmix(files):
    paths, _ = files
    res = gate_batch(paths, whole_blood_template(), processes=1)
    props = res.proportions(LEAVES)
    assert props.shape == (3, 5) and list(props.index) == ["subj0", "subj1", "subj2"]
    np.testing.assert_allclose(props.sum(axis=1), 1.0)
    c = res.counts.set_index(["sample", "population"])["count"]
    n = c[("subj1", "Singlets/Leukocytes/Live/Neutrophils")]
    tot = sum(c[("subj1", res.population_paths[p])] for p in LEAVES)
    assert props.loc["subj1", "Neutrophils"] == pytest.approx(n / tot)
    assert props["Neutrophils"].is_monotonic_increasing  # simulated 0.4 < 0.6 < 0.7
    assert props.loc["subj2", "Neutrophils"] == pytest.approx(0.7 / 1.1, abs=0.03)  # renormalised leaves
    of_total = res.proportions(["Neutrophils"], relative_to="total")
    assert of_total.loc["subj1", "Neutrophils"] == pytest.approx(n / 4000)
    of_live = res.proportions(["Singlets/Leukocytes/Live/Neutrophils"], relative_to="Live")
    assert of_live.iloc[1, 0] == pytest.approx(n / c[("subj1", "Singlets/Leukocytes/Live")])
    with pytest.raises(InputError, match="'Eosinophils' is not in the gating results"):
        res.proportions(["Eosinophils"])


def test_progress_cancel_and_dafi(files):
    paths, _ = files
    seen = []
    res = gate_batch(paths, whole_blood_template(), dafi=DafiRefiner(n_clusters=30, random_state=4), processes=1,
                     progress=lambda d, t, m: seen.append((d, t)))
    assert seen[0] == (0, 3) and seen[-1] == (3, 3)
    assert set(res.audits) == {"subj0", "subj1", "subj2"} and res.audits["subj0"]["seed"] == 4
    with pytest.raises(Cancelled):
        gate_batch(paths, whole_blood_template(), processes=2, progress=lambda d, t, m: False if d >= 1 else None)


def test_write_events_csv(tmp_path):
    mem = {"A": np.array([True, False, True]), "B,x": np.array([False, False, True])}
    p = write_events_csv(mem, tmp_path / "e.csv")
    df = pd.read_csv(p)
    assert list(df.columns) == ["A", "B,x"]
    assert df["A"].tolist() == [1, 0, 1] and df["B,x"].tolist() == [0, 0, 1]
