"""The Qt-free gating session of the Gating tab (study/gating_session.py, gating_settings.py,
gating_jobs.py) on simulated whole-blood samples: counts against GatingStrategy.evaluate, per-sample
auto-tune overrides, the compensation section, the DAFi section layout. No Qt here."""
from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from gating.autotune import TuneResult, translate_gate
from gating.batch import BatchResult
from gating.compensation import FCS_REF, Compensation
from gating.gates import Dimension, Divider, Quadrant, QuadrantGate, RectangleGate
from gating.simulate import simulate_whole_blood, whole_blood_template
from gating.transforms import make_transform
from study.gating_jobs import autotune_samples, gate_samples, refine_sample
from study.gating_session import Axes, GatingSession, next_gate_id, population_parents
from study.gating_settings import (
    DafiSettings,
    compensation_from_section,
    compensation_section,
    spillover_to_edit,
    strategy_with_overrides,
)

ROOT = Path(__file__).resolve().parents[2]
N = 3000


@pytest.fixture(scope="module")
def samples():
    out = {}
    for i, name in enumerate(("donor1", "donor2", "donor3")):
        sample, _ = simulate_whole_blood(N, seed=10 + i, name=name)
        out[name] = sample
    return out


@pytest.fixture
def project(samples):
    """What the session reads of a project: strategy, sections and samples (one unreadable)."""
    return SimpleNamespace(strategy=whole_blood_template(), data={"dafi": {}, "compensation": {}},
                           samples={**samples, "broken": "broken.fcs: cannot read the file"})


def test_gate_samples_counts_equal_strategy_evaluate(samples):
    strategy = whole_blood_template()
    items = [(n, s, strategy) for n, s in samples.items()] + [("broken", "cannot read", strategy)]
    seen = []
    res = gate_samples(items, progress=lambda done, total, msg: seen.append((done, total)))
    assert isinstance(res, BatchResult)
    assert res.errors == {"broken": "cannot read"}
    assert seen[0] == (0, 4) and seen[-1] == (4, 4)
    for name, sample in samples.items():
        want = strategy.evaluate(sample)
        got = res.counts[res.counts["sample"] == name].set_index("population")
        for pid in want.membership:
            assert got.loc[want.paths[pid], "count"] == want.count(pid) > 0
        assert res.event_counts[name] == N
    assert list(res.counts.columns) == ["sample", "population", "count", "parent_count", "pct_parent", "pct_total",
                                        "engine"]
    assert set(res.counts["engine"]) == {"exact"}
    # the BatchResult of gating.batch: proportions straight from the in-memory batch
    props = res.proportions(["Neutrophils", "Lymphocytes"])
    d1 = strategy.evaluate(samples["donor1"])
    n, ly = d1.count("Neutrophils"), d1.count("Lymphocytes")
    assert props.loc["donor1", "Neutrophils"] == pytest.approx(n / (n + ly))


def test_gate_samples_reports_a_failing_sample_and_goes_on(samples):
    bad = whole_blood_template()
    bad.add_gate(RectangleGate(id="Nowhere", dimensions=(Dimension("NO-SUCH-A"),), mins=(0.0,), maxs=(1.0,)))
    good = whole_blood_template()
    res = gate_samples([("donor1", samples["donor1"], bad), ("donor2", samples["donor2"], good)])
    assert set(res.errors) == {"donor1"} and "NO-SUCH-A" in res.errors["donor1"]
    assert set(res.counts["sample"]) == {"donor2"}
    empty = gate_samples([("x", "not read", good)])
    assert empty.counts.empty and empty.errors == {"x": "not read"}


def test_autotune_override_applies_to_one_sample_only(project, samples):
    gid = "Neutrophils"
    strategy = project.strategy
    results = autotune_samples([(n, project.samples[n]) for n in ("donor1", "donor2", "broken")], strategy, gid)
    assert isinstance(results["broken"], str) and set(results) == {"donor1", "donor2", "broken"}
    assert all(isinstance(results[n], TuneResult) for n in ("donor1", "donor2"))
    # a clear move for donor2 (the simulated donors need none): the review accepts it for donor2 only
    tuned = translate_gate(strategy.gates[gid], (0.15, 0.15))
    results["donor2"] = TuneResult(gate=tuned, shift=0.15, moved=(0.15, 0.15))
    settings = DafiSettings().with_autotune(gid, results, ["donor2"])
    assert set(settings.gate_overrides) == {"donor2"}
    assert settings.gate_overrides["donor2"][gid] == tuned.to_dict()
    project.data["dafi"] = settings.to_dict()
    session = GatingSession(project)
    assert session.strategy_for("donor2").gates[gid] == tuned
    assert session.strategy_for("donor1").gates[gid] == strategy.gates[gid]
    assert session.strategy_for("donor1") is strategy                   # no override: the template itself
    res = gate_samples(session.batch_items(["donor1", "donor2", "donor3"]))
    counts = res.counts.set_index(["sample", "population"])["count"]
    path = strategy.path(gid)
    tuned_strategy = strategy_with_overrides(strategy, {gid: tuned.to_dict()})
    assert counts["donor2", path] == tuned_strategy.evaluate(samples["donor2"]).count(gid)
    assert counts["donor2", path] < strategy.evaluate(samples["donor2"]).count(gid)   # the moved gate cuts
    for name in ("donor1", "donor3"):
        assert counts[name, path] == strategy.evaluate(samples[name]).count(gid)
    # rejecting it later removes the override again (and the sample's entry)
    assert DafiSettings.from_dict(project.data["dafi"]).with_autotune(gid, results, []).gate_overrides == {}


def test_compensation_section_round_trip(samples):
    dets = ["FITC-A", "PE-A"]
    mat = np.array([[1.0, 0.05], [0.02, 1.0]])
    section = compensation_section(dets, mat)
    assert section == {"id": "user", "detectors": dets, "matrix": [[1.0, 0.05], [0.02, 1.0]]}
    comp = compensation_from_section(section)
    assert comp == Compensation(id="user", detectors=tuple(dets), fluorochromes=tuple(dets), matrix=mat)
    assert compensation_section(comp.detectors, comp.matrix, comp.id) == section
    assert compensation_from_section({}) is None and compensation_from_section(None) is None
    dets_out, mat_out = spillover_to_edit(section, samples["donor1"])
    assert dets_out == dets and np.array_equal(mat_out, mat)
    assert spillover_to_edit({}, SimpleNamespace(spillover=None)) is None


def test_session_plots_values_compensated_with_the_edited_matrix(project, samples):
    sample = samples["donor1"]
    dets = [c for c in sample.channels if c.endswith("-A") and not c.startswith(("FSC", "SSC"))][:2]
    mat = np.array([[1.0, 0.2], [0.1, 1.0]])
    project.data["compensation"] = compensation_section(dets, mat)
    session = GatingSession(project)
    session.current_sample = "donor1"
    session.axes = Axes(dets[0], dets[1], "linear", "logicle", compensate=False)
    assert session.comp_ref() is None
    session.axes = Axes(dets[0], dets[1], "linear", "logicle", compensate=True)
    assert session.comp_ref() == "user"
    x, y = session.dimensions()
    assert (x, y) == (Dimension(dets[0], "user", None), Dimension(dets[1], "user", "logicle"))
    comp = Compensation(id="user", detectors=tuple(dets), fluorochromes=tuple(dets), matrix=mat)
    raw = comp.apply(sample.events, sample.channels)
    np.testing.assert_allclose(session.values(x), raw[:, sample.channel_index(dets[0])], rtol=1e-9)
    np.testing.assert_allclose(session.values(y), make_transform("logicle").apply(raw[:, sample.channel_index(dets[1])]),
                               rtol=1e-9)
    s = session.with_axes_transforms(project.strategy)
    assert "logicle" in s.transforms and "user" in s.compensations and "user" not in project.strategy.compensations
    project.data["compensation"] = {}
    assert session.comp_ref() == FCS_REF                  # the file's own $SPILLOVER


def test_dafi_settings_defaults_and_round_trip():
    d = DafiSettings.from_dict({})
    assert d == DafiSettings() == DafiSettings.from_dict(None)
    assert d.to_dict() == {"k": 100, "seed": 0, "channels": [], "modes": {}, "recluster": []}
    assert d.refiner_args() == {"n_clusters": 100, "channels": None, "random_state": 0}
    assert d.fit_args() == {"modes": None, "recluster": None}
    full = {"k": 12, "seed": 7, "channels": ["CD3", "CD19"], "modes": {"Monocytes": "cluster"},
            "recluster": ["Monocytes"], "gate_overrides": {"donor2": {"Live": {"type": "x"}}}, "future": [1, 2]}
    s = DafiSettings.from_dict(full)
    assert (s.k, s.seed, s.channels, s.recluster) == (12, 7, ("CD3", "CD19"), ("Monocytes",))
    assert s.to_dict() == full                          # unknown keys are kept
    full["modes"]["Monocytes"] = "off"                  # from_dict copied the section
    assert s.modes == {"Monocytes": "cluster"}
    assert s.refiner_args() == {"n_clusters": 12, "channels": ["CD3", "CD19"], "random_state": 7}
    assert s.fit_args() == {"modes": {"Monocytes": "cluster"}, "recluster": {"Monocytes"}}
    # edits return new settings
    m = d.with_mode("Monocytes", "cluster").with_recluster("B_cells", True).with_recluster("A", True)
    assert m.to_dict()["modes"] == {"Monocytes": "cluster"} and m.recluster == ("A", "B_cells")
    assert m.with_recluster("A", False).recluster == ("B_cells",) and d.modes == {}
    u = m.updated({"k": 20, "channels": ["SSC-A"]})
    assert (u.k, u.channels, u.modes) == (20, ("SSC-A",), {"Monocytes": "cluster"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.k = 5                                          # frozen


def test_session_current_sample_evaluation_and_populations(project, samples):
    session = GatingSession(project)
    session.current_sample = "donor1"
    assert session.evaluate() == (False, None)
    want = project.strategy.evaluate(samples["donor1"])
    first = project.strategy.children(None)[0]
    assert session.count(first) == (want.count(first), N)
    leaf = "Neutrophils"
    parent = project.strategy.gates[leaf].parent_id
    assert session.count(leaf) == (want.count(leaf), want.count(parent))
    assert session.evaluate(keep=True) == (True, None)                 # same sample and strategy
    assert session.gate_label(project.strategy.gates[leaf]).startswith(f"{leaf}: {want.count(leaf):,} (")
    assert session.counts([leaf, "nope"]) == {leaf: session.count(leaf)}
    gate = session.select_population(parent)
    assert session.current_population == parent and gate is not None and gate.parent_id == parent
    assert session.select_population("not a population").id == first and session.current_population is None
    assert int(session.population_mask(leaf).sum()) == want.count(leaf)
    session.current_sample = "broken"
    assert session.sample() is None and session.evaluate() == (False, None) and session.result is None
    assert session.sample_or_error("broken").startswith("broken.fcs") and session.count(leaf) == (0, 0)
    listed = session.listed_samples(["donor1", "donor9"])
    assert listed["donor9"] is None and set(listed) == {"donor1", "donor9", "donor2", "donor3", "broken"}


def test_gates_in_view_follow_the_axes(project, samples):
    session = GatingSession(project)
    session.current_sample = "donor1"
    session.evaluate()
    gate = session.select_population(None)
    sample = samples["donor1"]
    session.axes = axes = session.axes_for(gate.dimensions)
    x, y = gate.dimensions
    assert axes == Axes(sample.channels[sample.channel_index(x.channel)], sample.channels[sample.channel_index(y.channel)],
                        x.transform_ref or "linear", y.transform_ref or "linear", compensate=False, gate_comp=None)
    assert [g.id for g in session.gates_in_view(project.strategy)] == [gate.id]
    missing = Dimension("NO-SUCH-A", None, "logicle")
    assert session.axes_for((missing,)) == Axes(axes.x_channel, axes.y_channel, "logicle", "logicle")
    session.axes = Axes(gate.dimensions[1].channel, gate.dimensions[0].channel)   # swapped axes: not drawable
    assert session.gates_in_view(project.strategy) == []


def test_new_gate_ids_and_tree_parents():
    s = whole_blood_template()
    assert next_gate_id(s, "rectangle") == "Rectangle 1"
    s.add_gate(RectangleGate(id="Rectangle 1", dimensions=(Dimension("FSC-A"), Dimension("SSC-A")),
                             mins=(0, 0), maxs=(1, 1)))
    assert next_gate_id(s, "rectangle") == "Rectangle 2" and next_gate_id(s, "quadrant") == "Quadrant 1"
    divs = (Divider(id="q.x", values=(0.5,)), Divider(id="q.y", values=(0.5,)))
    quads = tuple(Quadrant(id=f"Q: {i}", positions=(("q.x", x), ("q.y", y)))
                  for i, (x, y) in enumerate(((0, 0), (1, 0), (0, 1), (1, 1))))
    s.add_gate(QuadrantGate(id="Quadrant 1", parent_id="Live", dimensions=(Dimension("CD3"), Dimension("CD19")),
                            dividers=divs, quadrants=quads))
    assert next_gate_id(s, "quadrant") == "Quadrant 2"
    parents = population_parents(s)
    assert parents["Rectangle 1"] is None and parents["Neutrophils"] == s.gates["Neutrophils"].parent_id
    assert parents["Quadrant 1"] == "Live" and [parents[q.id] for q in quads] == ["Quadrant 1"] * 4
    assert set(parents) == set(s.population_ids()) | {"Quadrant 1"}


def test_refine_sample_uses_the_settings(samples):
    from gating.dafi import DafiRefiner
    strategy = whole_blood_template()
    settings = DafiSettings(k=10, seed=3, modes={"Monocytes": "cluster"})
    got = refine_sample(samples["donor1"], strategy, settings)
    ref = DafiRefiner(n_clusters=10, random_state=3).fit(samples["donor1"], strategy, modes={"Monocytes": "cluster"})
    np.testing.assert_array_equal(got.membership_["Monocytes"], ref.membership_["Monocytes"])


def test_runs_where_pyside6_cannot_be_imported():
    code = (
        "import sys\n"
        "for qt in ('PySide6', 'shiboken6', 'pyqtgraph'):\n"
        "    sys.modules[qt] = None\n"
        "from types import SimpleNamespace\n"
        "from gating.simulate import simulate_whole_blood, whole_blood_template\n"
        "from study.gating_session import GatingSession\n"
        "from study.gating_jobs import gate_samples\n"
        "s, _ = simulate_whole_blood(500, seed=1, name='d1')\n"
        "p = SimpleNamespace(strategy=whole_blood_template(), data={}, samples={'d1': s})\n"
        "print(len(gate_samples(GatingSession(p).batch_items(['d1'])).counts))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) == len(whole_blood_template().population_ids())


def test_counts_frame_is_tidy(samples):
    res = gate_samples([("donor3", samples["donor3"], whole_blood_template())])
    assert isinstance(res.counts, pd.DataFrame) and res.counts["count"].dtype == np.int64
