"""DAFi: cluster-centroid gating completes populations that a drawn gate cuts through."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from gating.dafi import DafiRefiner
from gating.gates import BooleanGate, Dimension, Divider, Quadrant, QuadrantGate, RectangleGate
from gating.sample import read_fcs
from gating.simulate import simulate_whole_blood, whole_blood_template, write_fcs


@pytest.fixture(scope="module")
def blood(tmp_path_factory):
    """Simulated whole-blood panel written as an FCS 3.1 file with flowio and read back."""
    s, truth = simulate_whole_blood(20_000, seed=5)
    back = read_fcs(write_fcs(s, tmp_path_factory.mktemp("dafi") / "blood.fcs"))
    assert back.event_count == 20_000 and back.channels == s.channels
    np.testing.assert_allclose(back.events, s.events, rtol=1e-6)  # float32 on disk
    return back, truth


def _recall_precision(mask, truth):
    tp = np.count_nonzero(mask & truth)
    return tp / truth.sum(), tp / max(1, mask.sum())


@pytest.fixture(scope="module")
def tight_strategy():
    """Template with Neutrophils, Monocytes and B cells drawn too tight: the box cuts through each cloud."""
    st = whole_blood_template()
    st.replace_gate(dataclasses.replace(st.gates["Neutrophils"], mins=(0.35, 0.63)))  # CD66b mean 0.70, sd 0.045
    st.replace_gate(dataclasses.replace(st.gates["Monocytes"], mins=(0.63, None)))  # CD14 mean 0.70, sd 0.05
    st.replace_gate(dataclasses.replace(st.gates["B_cells"], mins=(None, 0.57)))  # CD19 mean 0.64, sd 0.05
    return st


@pytest.fixture(scope="module")
def dafi_fit(blood, tight_strategy):
    s, _ = blood
    return DafiRefiner(n_clusters=100, random_state=0).fit(s, tight_strategy)


@pytest.mark.parametrize("pop", ["Neutrophils", "Monocytes", "B_cells"])
def test_dafi_completes_a_cut_population(blood, tight_strategy, dafi_fit, pop):
    s, truth = blood
    plain = tight_strategy.evaluate(s).membership[pop]
    rec_plain, prec_plain = _recall_precision(plain, truth[pop])
    rec_dafi, prec_dafi = _recall_precision(dafi_fit.membership_[pop], truth[pop])
    assert rec_plain < 0.95 and prec_plain > 0.99  # event gating loses the cut-off tail (6-9 %)
    assert rec_dafi > 0.97 and prec_dafi > 0.98  # DAFi keeps whole clusters: within a few per cent
    n_true = truth[pop].sum()
    assert abs(dafi_fit.membership_[pop].sum() - n_true) / n_true < 0.03


def test_membership_nested_in_ancestors_and_audit(blood, tight_strategy, dafi_fit):
    s, _ = blood
    m = dafi_fit.membership_
    for pid in m:
        parent = tight_strategy.parent_of(pid)
        if parent is not None:
            assert not np.any(m[pid] & ~m[parent]), pid
    a = dafi_fit.audit_
    assert a["seed"] == 0 and a["k"] == 100 and a["n_events"] == s.event_count
    assert set(a["channels"]) == set(s.channels)  # every non-Time channel by default
    assert 1 <= a["iterations"]["sample"] <= 100
    assert dafi_fit.centers_["sample"].shape[0] == 100  # root: the requested k
    assert a["per_parent"] and set(a["clusters"]) >= {"sample", "Leukocytes"}
    counts = dafi_fit.counts()
    assert list(counts.columns) == ["sample", "population", "count", "parent_count", "pct_parent", "pct_total"]
    row = counts.set_index("population").loc["Singlets/Leukocytes/Live/Neutrophils"]
    assert row["count"] == m["Neutrophils"].sum() and row["parent_count"] == m["Live"].sum()


def test_deterministic_given_seed(blood, tight_strategy, dafi_fit):
    s, _ = blood
    again = DafiRefiner(n_clusters=100, random_state=0).fit(s, tight_strategy)
    for pid in dafi_fit.membership_:
        np.testing.assert_array_equal(again.membership_[pid], dafi_fit.membership_[pid])


def test_event_mode_equals_plain_gating(blood):
    s, _ = blood
    st = whole_blood_template()
    d = DafiRefiner(n_clusters=20).fit(s, st, modes={g: "event" for g in st.gates})
    ref = st.evaluate(s).membership
    for pid in ref:
        np.testing.assert_array_equal(d.membership_[pid], ref[pid])
    assert d.audit_["iterations"] == {}  # nothing clustered


def test_slope_mode_singlets(blood):
    s, truth = blood
    st = whole_blood_template()
    # C DAFi semantics: lines through (min_x, min_y) and (max_x, max_y): keep 0.70 <= FSC-H/FSC-A <= 1.2
    st.replace_gate(RectangleGate("Singlets", None, st.gates["Singlets"].dimensions, mins=(1.0, 0.70), maxs=(1.0, 1.2)))
    d = DafiRefiner(n_clusters=30).fit(s, st, modes={"Singlets": "slope"})
    rec, prec = _recall_precision(d.membership_["Singlets"], truth["Singlets"])
    assert rec > 0.995 and prec > 0.995
    with pytest.raises(ValueError, match="unknown DAFi mode"):
        DafiRefiner().fit(s, st, modes={"Singlets": "magnetic"})


def test_recluster_and_exclusion(blood):
    s, truth = blood
    st = whole_blood_template()
    excl = RectangleGate("no_nk", None, (Dimension("CD56", None, "asinh"),), mins=(0.40,), maxs=(None,))
    d = DafiRefiner(n_clusters=40, random_state=1, per_parent=False).fit(s, st, recluster={"Lymphocytes", "Singlets"},
                                                       exclusions={"Lymphocytes": excl})
    lym = d.membership_["Lymphocytes"]
    assert _recall_precision(lym, truth["T_cells"])[0] > 0.97
    assert np.count_nonzero(lym & truth["NK_cells"]) < 0.05 * truth["NK_cells"].sum()
    assert d.audit_["reclustered"] == ["Lymphocytes", "Singlets"]
    assert set(d.centers_) == {"sample", "Singlets", "Lymphocytes"}
    # the Lymphocytes re-clustering is inherited by its children; NK_cells now empty-ish
    assert d.membership_["NK_cells"].sum() < 0.05 * truth["NK_cells"].sum()


def test_quadrant_and_boolean_gates(blood):
    s, truth = blood
    st = whole_blood_template()
    asinh = lambda m: Dimension(m, None, "asinh")  # noqa: E731
    st.add_gate(QuadrantGate("Q", "Lymphocytes", (asinh("CD3"), asinh("CD19")),
                             dividers=(Divider("d3", (0.42,)), Divider("d19", (0.4,))),
                             quadrants=(Quadrant("CD3pos", (("d3", 1.0), ("d19", 0.0))),
                                        Quadrant("CD19pos", (("d3", 0.0), ("d19", 1.0))))))
    st.add_gate(BooleanGate("notT", "Lymphocytes", op="not", refs=(("T_cells", False),)))
    d = DafiRefiner(n_clusters=60).fit(s, st)
    assert _recall_precision(d.membership_["CD3pos"], truth["T_cells"])[0] > 0.97
    assert _recall_precision(d.membership_["CD19pos"], truth["B_cells"])[0] > 0.95
    assert not np.any(d.membership_["notT"] & d.membership_["T_cells"])
    assert np.all(d.membership_["notT"] <= d.membership_["Lymphocytes"])
    assert len(d.kept_clusters_["CD3pos"]) >= 1


def test_progress_and_cancel(blood):
    from gating.progress import Cancelled

    s, _ = blood
    st = whole_blood_template()
    seen = []
    DafiRefiner(n_clusters=10).fit(s, st, modes={g: "event" for g in st.gates}, progress=lambda d, t, m: seen.append((d, t)))
    assert seen[-1][0] == seen[-1][1]
    with pytest.raises(Cancelled):
        DafiRefiner(n_clusters=10).fit(s, st, progress=lambda d, t, m: False)
