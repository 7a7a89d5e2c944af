"""The demo study: generated on first use, deterministically, into the per-user data folder.

12 subjects x 2 visits = 24 samples. For each sample a whole-blood FCS file is simulated
(:func:`gating.simulate.simulate_whole_blood`) with cell proportions that vary by subject, visit
and response group; the TRUE fractions of neutrophils, lymphocytes and monocytes among live
leukocytes (from the simulator's per-event truth) then drive a bulk expression matrix made by
the FastMix model of :mod:`engine.simulate` (``Y = (beta + shift + gamma) X' + error`` on the
design of :func:`engine.design.build_design`, covariates age, response and visit). Nothing comes
from real donors: the data are free to share.

Files (all paths in the project file are relative to it)::

    demo.fmsproj          project: FCS list, gating template, study mapping
    fcs/S01_V1.fcs ...    24 FCS 3.1 files (20,000 events each)
    template.xml          gating template (Gating-ML 2.0)
    sample_sheet.csv      sample_id, subject_id, visit, age, response
    expression.csv        genes x samples (2,000 genes, log2-scale values)
    true_proportions.csv  the simulated truth, for checking a gating
    true_deg.csv          which genes carry a true cell type-specific effect, per term
    true_pathway.txt      the planted pathway (a GO BP set) and its genes in the study
    manifest.json         written last: a study without it (or with a file missing) is regenerated
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from engine.errors import InputError
from engine.progress import ProgressCallback, report

APP_DIR_NAME = "FastMixStudio"
GENERATOR_VERSION = 2  # 2: a planted pathway
PROJECT_NAME = "demo.fmsproj"
N_SUBJECTS = 12
VISITS = ("V1", "V2")
N_EVENTS = 20_000
N_GENES = 2_000
SEED = 20240611
CELLS = ("Neutrophils", "Lymphocytes", "Monocytes")
#: design terms that carry true cell type-specific effects (5 % of genes each)
DEG_TERMS = ("Neutrophils.response[responder]", "Monocytes.visit[V2]", "Lymphocytes.age")
#: size of those effects in SD of the term's random effect (monocytes are rare: larger effect)
DEG_SHIFTS = (4.0, 25.0, 6.0)
#: the planted pathway: its genes among the demo's symbols (GO BP, bundled go_bp.gmt.gz) are the
#: true DEGs of the first DEG term, all pushed up (neutrophils of responders attract more neutrophils)
PATHWAY = "GO:0030593 neutrophil chemotaxis"
PATHWAY_TERM = DEG_TERMS[0]
PATHWAY_GENES = ("CCL1", "CCL11", "CCL13", "CCL15", "CCL16", "CCL17", "CCL18", "CCL2", "CCL20", "CCL22", "CCL23",
                 "CCL25", "CCL3", "CCL4", "CCL7", "CCL8", "CD74", "CXCL1", "CXCL10", "CXCL13", "CXCL2", "CXCL5",
                 "CXCL6", "CXCL8", "CXCL9", "ITGA1", "ITGA9", "ITGB2", "S100A12", "S100A8", "S100A9")
_FILES = ("demo.fmsproj", "template.xml", "sample_sheet.csv", "expression.csv", "true_proportions.csv",
          "true_deg.csv", "true_pathway.txt")

__all__ = ["user_data_dir", "default_demo_dir", "ensure_demo_study", "demo_is_complete", "gene_symbols",
           "sample_table"]


def user_data_dir() -> Path:
    """Per-user data folder: ``$FASTMIX_STUDIO_DATA`` or the platform's application data dir."""
    env = os.environ.get("FASTMIX_STUDIO_DATA")
    if env:
        return Path(env).expanduser()
    home = Path.home()
    if sys.platform.startswith("win"):
        base = Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    return base / APP_DIR_NAME


def default_demo_dir() -> Path:
    """Where the demo study lives unless a folder is given."""
    return user_data_dir() / "demo"


# ------------------------------------------------------------------------------------ genes
_STEMS = (
    ("SEPT", 1, 14), ("MARCH", 1, 11), ("DEC", 1, 1), ("CD", 1, 300), ("IL", 1, 40), ("CCL", 1, 28),
    ("CXCL", 1, 17), ("S100A", 1, 16), ("KLF", 1, 17), ("IRF", 1, 9), ("STAT", 1, 6), ("TLR", 1, 10),
    ("FCGR", 1, 3), ("ITGA", 1, 11), ("ITGB", 1, 8), ("RPL", 3, 41), ("RPS", 2, 29), ("SLC", 1, 50),
    ("ZNF", 1, 900), ("ATP", 1, 13), ("KRT", 1, 40), ("COL", 1, 28), ("GATA", 1, 6), ("SOX", 1, 30),
    ("HOXA", 1, 13), ("TNFSF", 4, 18), ("TNFRSF", 1, 25), ("MMP", 1, 28), ("CASP", 1, 14),
    ("HSPA", 1, 14), ("DDX", 3, 60), ("KIF", 1, 27), ("MAPK", 1, 15), ("NLRP", 1, 14),
    ("TMEM", 1, 260), ("CCDC", 1, 190), ("LINC0", 1000, 1300),
)


def gene_symbols(n: int = N_GENES, seed: int = SEED) -> list[str]:
    """``n`` distinct, real-looking HGNC-style symbols (incl. ``SEPT1``/``MARCH1``-like names), fixed order."""
    pool = [f"{stem}{i}" for stem, a, b in _STEMS for i in range(a, b + 1)]
    if n > len(pool):
        raise ValueError(f"at most {len(pool)} demo gene symbols")
    traps = [g for g in pool if g.startswith(("SEPT", "MARCH", "DEC"))][:6]  # always present
    rest = [g for g in pool if g not in traps]
    order = np.random.default_rng(seed).permutation(len(rest))
    chosen = traps + [rest[i] for i in order[: n - len(traps)]]
    return [chosen[i] for i in np.random.default_rng(seed + 1).permutation(n)]


# ---------------------------------------------------------------------------------- samples
def sample_table(seed: int = SEED) -> pd.DataFrame:
    """The sample sheet: one row per (subject, visit), indexed by ``sample_id``."""
    rng = np.random.default_rng(seed)
    subjects = [f"P{j + 1:02d}" for j in range(N_SUBJECTS)]
    responder = np.zeros(N_SUBJECTS, dtype=bool)
    responder[rng.permutation(N_SUBJECTS)[: N_SUBJECTS // 2]] = True
    age = rng.integers(24, 76, N_SUBJECTS)
    rows = []
    for j, subj in enumerate(subjects):
        for visit in VISITS:
            rows.append({"sample_id": f"S{j + 1:02d}_{visit}", "subject_id": subj, "visit": visit,
                         "age": int(age[j]), "response": "responder" if responder[j] else "non-responder"})
    return pd.DataFrame(rows).set_index("sample_id")


def _design_proportions(sheet: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Per-sample simulator proportions (fractions of live leukocytes) by subject, visit, response."""
    rng = np.random.default_rng(seed + 2)
    n_subj = sheet["subject_id"].nunique()
    base = {
        "Neutrophils": rng.uniform(0.45, 0.68, n_subj), "Monocytes": rng.uniform(0.05, 0.10, n_subj),
        "T_cells": rng.uniform(0.16, 0.30, n_subj), "B_cells": rng.uniform(0.03, 0.07, n_subj),
        "NK_cells": rng.uniform(0.03, 0.07, n_subj),
    }
    subj_index = {s: i for i, s in enumerate(sorted(sheet["subject_id"].unique()))}
    out = {}
    for sid, row in sheet.iterrows():
        j = subj_index[row["subject_id"]]
        p = {k: v[j] for k, v in base.items()}
        if row["visit"] == "V2":  # responders lose neutrophils and gain lymphocytes after treatment
            f = 0.78 if row["response"] == "responder" else 0.95
            p["Neutrophils"] *= f
            p["T_cells"] *= 1.0 + (1.0 - f) * 1.5
        p = {k: v * rng.uniform(0.92, 1.08) for k, v in p.items()}  # sample-level noise
        total = sum(p.values())
        out[sid] = {k: v / total for k, v in p.items()}
    return pd.DataFrame.from_dict(out, orient="index")


def _true_fractions(truth: dict) -> dict[str, float]:
    live = truth["Live"].sum()
    return {
        "Neutrophils": truth["Neutrophils"].sum() / live,
        "Lymphocytes": truth["Lymphocytes"].sum() / live,
        "Monocytes": truth["Monocytes"].sum() / live,
    }


def _plant_pathway(shift: np.ndarray, genes: pd.Index, term: int, block: int, size: float) -> None:
    """Make :data:`PATHWAY_GENES` the DEGs of column ``term`` pushed up by ``size``; as many other
    genes of that term's block lose their effect, so the term keeps its 5 % of DEGs."""
    rows = genes.get_indexer(list(PATHWAY_GENES))
    rows = rows[rows >= 0]
    new = [r for r in rows if shift[r, term] == 0]
    others = [r for r in range(block) if r not in set(rows.tolist()) and shift[r, term] != 0]
    shift[others[len(others) - len(new):], term] = 0.0
    shift[rows, term] = size


def _expression(props: pd.DataFrame, sheet: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Bulk expression from the FastMix model, driven by the TRUE proportions.

    Same generative model as :mod:`engine.simulate` (fixed effects + per-gene random effects
    + 5 %-of-genes outlier shifts of several SD on chosen terms + Gaussian noise), on the design of
    :func:`engine.design.build_design`. The three cell fractions sum to one, so covariate main
    effects are left out (``include_covariate_main=False``), exactly as the analysis must do.
    """
    from engine.design import build_design

    covs = sheet.loc[props.index, ["age", "response", "visit"]].copy()
    covs["age"] = covs["age"].astype(np.float64)
    design = build_design(props, covs, include_covariate_main=False)
    names = list(design.names)
    m, L = N_GENES, len(names)
    beta = np.zeros(L)
    sd = np.full(L, 0.5)
    for i, cell in enumerate(CELLS):
        beta[names.index(cell)] = (8.0, 7.0, 7.5)[i]  # log2-scale baseline per cell type
        sd[names.index(cell)] = 1.0
    out_terms = [names.index(t) for t in DEG_TERMS]
    rng = np.random.default_rng(seed + 3)
    block = int(round(0.05 * m))
    shift = np.zeros((m, L))
    signs = np.where(rng.random((m, len(out_terms))) < 0.5, 1.0, -1.0)
    for b, t in enumerate(out_terms):
        rows = slice(b * block, (b + 1) * block)
        shift[rows, t] = DEG_SHIFTS[b] * sd[t] * signs[rows, b]
    genes = pd.Index(gene_symbols(m, seed), name="gene")
    _plant_pathway(shift, genes, out_terms[0], block, DEG_SHIFTS[0] * sd[out_terms[0]])
    gamma = rng.standard_normal((m, L)) * sd
    noise = rng.normal(0.0, 0.25, (m, design.X.shape[0]))
    Y = (beta + shift + gamma) @ design.X.T + noise
    expr = pd.DataFrame(Y, index=genes, columns=list(design.samples))
    deg = pd.DataFrame(shift[:, out_terms] != 0, index=genes, columns=list(DEG_TERMS))
    return expr, deg


# ---------------------------------------------------------------------------------- project
def _project_dict(sample_ids: list[str], strategy_dict: dict) -> dict:
    from study.gating_settings import DafiSettings

    return {
        "format": "fastmix-studio-project",
        "version": 1,
        "fcs_files": [f"fcs/{s}.fcs" for s in sample_ids],
        "compensation": {},
        "transforms": {},
        "strategy": strategy_dict,
        "dafi": {"k": DafiSettings().k, "seed": DafiSettings().seed},
        "study": {
            "sheet_path": "sample_sheet.csv",
            "expression_path": "expression.csv",
            "genes_in_rows": True,
            "log2": False,
            "proportions_source": "gating",
            "columns": [
                {"name": "subject_id", "role": "subject", "reference": None},
                {"name": "visit", "role": "categorical", "reference": "V1"},
                {"name": "age", "role": "continuous", "reference": None},
                {"name": "response", "role": "categorical", "reference": "non-responder"},
            ],
            "populations": list(CELLS),
        },
        # the three fractions sum to one: covariate main effects would make the design singular
        "analysis": {"options": {"include_covariate_main": False}},
        "results": {},
    }


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _write_study(folder: Path, progress: ProgressCallback | None) -> None:
    from gating.gatingml import write_gatingml
    from gating.simulate import simulate_whole_blood, whole_blood_template, write_fcs

    sheet = sample_table(SEED)
    design_props = _design_proportions(sheet, SEED)
    n = len(sheet)
    total = n + 2
    (folder / "fcs").mkdir(parents=True)
    truth_rows = {}
    for i, sid in enumerate(sheet.index):
        report(progress, i, total, f"Simulating {sid}.fcs")
        sample, truth = simulate_whole_blood(N_EVENTS, seed=SEED + 100 + i,
                                             proportions=design_props.loc[sid].to_dict(), name=sid)
        write_fcs(sample, folder / "fcs" / f"{sid}.fcs")
        truth_rows[sid] = _true_fractions(truth)
    props = pd.DataFrame.from_dict(truth_rows, orient="index").loc[:, list(CELLS)]
    props.index.name = "sample_id"
    report(progress, n, total, "Simulating expression")
    expr, deg = _expression(props, sheet, SEED)
    expr.to_csv(folder / "expression.csv", float_format="%.6f", lineterminator="\n")
    deg.astype(int).to_csv(folder / "true_deg.csv", lineterminator="\n")
    planted = [g for g in PATHWAY_GENES if g in expr.index]
    (folder / "true_pathway.txt").write_text(f"# planted pathway: {PATHWAY}, term {PATHWAY_TERM}, up\n"
                                             + "".join(f"{g}\n" for g in planted), encoding="utf-8")
    props.to_csv(folder / "true_proportions.csv", float_format="%.6f", lineterminator="\n")
    sheet.to_csv(folder / "sample_sheet.csv", lineterminator="\n")
    strategy = whole_blood_template()
    write_gatingml(strategy, folder / "template.xml")
    project = _project_dict(list(sheet.index), strategy.to_dict())
    (folder / PROJECT_NAME).write_text(json.dumps(project, indent=2) + "\n", encoding="utf-8")
    report(progress, n + 1, total, "Writing manifest")
    files = sorted([f for f in _FILES] + [f"fcs/{s}.fcs" for s in sheet.index])
    manifest = {"generator_version": GENERATOR_VERSION, "seed": SEED,
                "files": {f: os.path.getsize(folder / f) for f in files},
                "expression_sha256": _sha256(folder / "expression.csv"),
                "licence": "generated by FastMix Studio's simulators; no real donor data; MIT"}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    report(progress, total, total, "Demo study ready")


def demo_is_complete(folder: str | os.PathLike) -> bool:
    """True when ``folder`` holds a finished demo study of the current generator version."""

    folder = Path(folder)
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if manifest.get("generator_version") != GENERATOR_VERSION:
        return False
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        return False
    for name, size in files.items():
        p = folder / name
        if not p.is_file() or p.stat().st_size != size:
            return False
    return True


def ensure_demo_study(folder: str | os.PathLike | None = None, *,
                      progress: ProgressCallback | None = None) -> Path:
    """Generate the demo study into ``folder`` (default :func:`default_demo_dir`) unless it is complete.

    Generation happens in a temporary sibling folder that is renamed into place at the end, so
    an interrupted run never leaves a half study. Returns the path of ``demo.fmsproj``.
    """
    folder = Path(folder) if folder is not None else default_demo_dir()
    folder = folder.expanduser().resolve()
    if demo_is_complete(folder):
        return folder / PROJECT_NAME
    if folder.exists() and any(folder.iterdir()) and not (
            (folder / "manifest.json").exists() or (folder / PROJECT_NAME).exists() or (folder / "fcs").is_dir()):
        raise InputError("folder is not empty and does not hold a demo study; choose an empty folder",
                         file=str(folder))
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-new-", dir=folder.parent))
    try:
        _write_study(tmp / "study", progress)
        old = None
        if folder.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{folder.name}-old-", dir=folder.parent)) / "study"
            os.replace(folder, old)
        os.replace(tmp / "study", folder)
        if old is not None:
            shutil.rmtree(old.parent, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder / PROJECT_NAME
