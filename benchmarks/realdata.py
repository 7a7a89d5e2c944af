"""Real public expression matrices for statistics benchmarks, from Debian's Bioconductor data packages.

Data sets (both Bioconductor data packages, licence Artistic-2.0; the matrices are never committed):
  "all"      ALL (Chiaretti et al. 2004): ExpressionSet ``ALL``, 12,625 hgu95av2 probes x 128 leukemia
             samples, RMA log2; phenodata BT, sex, age, mol.biol, ...  (apt-get install r-bioc-all)
  "bladder"  bladderbatch (Dyrskjot et al. 2004): ``bladderEset``, 22,283 probes x 57 samples, log2;
             phenodata sample, outcome, batch, cancer.  (apt-get install r-bioc-bladderbatch)

``load(name)`` returns (expr: genes x samples float64, probe IDs as index, sample IDs as columns;
pheno: samples x columns). The first call runs ``Rscript`` (a dependency of the apt packages) to
write the ExpressionSet out bit-exact (``Biobase::exprs`` as raw float64, IDs, ``pData`` as CSV)
into ``CACHE/<name>/``, stored as ``expr.npy`` + ``probes.txt`` + ``samples.txt`` + ``pheno.csv``
(+ ``pheno_types.txt``, R's column classes); later calls read the cache (~10-20 ms).
Set FASTMIX_DATA_CACHE to move the cache. Run ``python benchmarks/realdata.py`` for a summary.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

CACHE = Path(os.environ.get("FASTMIX_DATA_CACHE", Path.home() / ".cache" / "fastmix-studio" / "realdata"))

# name -> (apt package, R package, data() name, object name, expected shape)
DATASETS = {
    "all": ("r-bioc-all", "ALL", "ALL", "ALL", (12625, 128)),
    "bladder": ("r-bioc-bladderbatch", "bladderbatch", "bladderdata", "bladderEset", (22283, 57)),
}
_FILES = ("expr.npy", "probes.txt", "samples.txt", "pheno.csv", "pheno_types.txt")
_R_LIBS = ("/usr/lib/R/site-library", "/usr/local/lib/R/site-library", "/usr/lib/R/library")
# args: R package, data() name, object name, output dir
_R_SCRIPT = r"""
a <- commandArgs(trailingOnly = TRUE)
suppressPackageStartupMessages(library(Biobase))
e <- new.env(); data(list = a[2], package = a[1], envir = e)
es <- get(a[3], envir = e); m <- exprs(es); storage.mode(m) <- "double"
writeBin(as.vector(m), file.path(a[4], "expr.f64"), size = 8, endian = "little")
writeLines(rownames(m), file.path(a[4], "probes.txt"))
writeLines(colnames(m), file.path(a[4], "samples.txt"))
p <- pData(es)
write.csv(p, file.path(a[4], "pheno.csv"), na = "NA")
writeLines(vapply(p, function(x) class(x)[1], ""), file.path(a[4], "pheno_types.txt"))
"""


class MissingData(RuntimeError):
    """The Debian data package (or Rscript) needed to build the cache is not installed."""


def _spec(name: str) -> tuple:
    if name not in DATASETS:
        raise KeyError(f"unknown data set {name!r}; choose from {sorted(DATASETS)}")
    return DATASETS[name]


def install_hint(name: str) -> str:
    return f"apt-get install -y {_spec(name)[0]}"


def _cached(name: str) -> bool:
    return all((CACHE / name / f).is_file() for f in _FILES)


def _installed(name: str) -> bool:
    rpkg = _spec(name)[1]
    libs = [*os.environ.get("R_LIBS_SITE", "").split(":"), *os.environ.get("R_LIBS_USER", "").split(":"), *_R_LIBS]
    return bool(shutil.which("Rscript")) and any((Path(d) / rpkg / "data").is_dir() for d in libs if d)


def available(name: str) -> bool:
    """True if ``load(name)`` can work without network: cached, or package + Rscript installed."""
    return _cached(name) or _installed(name)


def _convert(name: str) -> None:
    rpkg, dataname, obj = _spec(name)[1:4]
    rscript = shutil.which("Rscript")
    if rscript is None:
        raise MissingData(f"Rscript not found; install the data with: {install_hint(name)}")
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=CACHE))
    tmp.chmod(0o755)
    try:
        r = subprocess.run([rscript, "--vanilla", "-e", _R_SCRIPT, rpkg, dataname, obj, str(tmp)],
                           capture_output=True, text=True, timeout=900)
        if r.returncode != 0:
            err = r.stderr.strip()[-800:]
            why = [ln for ln in err.splitlines() if "no package called" in ln or "not found" in ln]
            if why:
                raise MissingData(f"{why[0].strip()}; install with: {install_hint(name)}")
            raise RuntimeError(f"Rscript failed converting {name!r}:\n{err}")
        probes = (tmp / "probes.txt").read_text().splitlines()
        samples = (tmp / "samples.txt").read_text().splitlines()
        flat = np.fromfile(tmp / "expr.f64", dtype="<f8")
        if flat.size != len(probes) * len(samples):
            raise RuntimeError(f"{name}: matrix size {flat.size} != {len(probes)} x {len(samples)}")
        # R is column-major: the raw vector is samples-major.
        np.save(tmp / "expr.npy", np.ascontiguousarray(flat.reshape(len(samples), len(probes)).T))
        (tmp / "expr.f64").unlink()
        shutil.rmtree(CACHE / name, ignore_errors=True)
        os.replace(tmp, CACHE / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _read_pheno(d: Path) -> pd.DataFrame:
    pheno = pd.read_csv(d / "pheno.csv", index_col=0, dtype=str, keep_default_na=False, na_values=["NA"])
    for col, cls in zip(pheno.columns, (d / "pheno_types.txt").read_text().splitlines()):
        if cls == "integer":
            pheno[col] = pd.to_numeric(pheno[col]).astype("Int64")
        elif cls == "numeric":
            pheno[col] = pd.to_numeric(pheno[col]).astype("float64")
        elif cls == "logical":
            pheno[col] = pheno[col].map({"TRUE": True, "FALSE": False}).astype("boolean")
    pheno.index.name = None
    return pheno


def load(name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(expression genes x samples float64, phenodata samples x columns) for "all" or "bladder"."""
    _spec(name)
    if not _cached(name):
        _convert(name)
    d = CACHE / name
    probes = (d / "probes.txt").read_text().splitlines()
    samples = (d / "samples.txt").read_text().splitlines()
    expr = pd.DataFrame(np.load(d / "expr.npy"), index=probes, columns=samples, copy=False)
    pheno = _read_pheno(d)
    if list(pheno.index) != samples or expr.shape != (len(probes), len(samples)):
        raise RuntimeError(f"{name}: inconsistent cache in {d}; delete it and retry")
    return expr, pheno


def main() -> int:
    for name in DATASETS:
        if not available(name):
            print(f"{name}: not available -> {install_hint(name)}")
            continue
        if not _cached(name):
            t0 = time.perf_counter()
            load(name)
            print(f"{name}: converted .rda -> {CACHE / name} in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        expr, pheno = load(name)
        dt, x = time.perf_counter() - t0, expr.to_numpy()
        note = "" if x.shape == _spec(name)[4] else f" (EXPECTED {_spec(name)[4]})"
        print(f"{name}: expr {x.shape[0]} x {x.shape[1]}{note}, range [{x.min():.3f}, {x.max():.3f}], "
              f"median per-gene SD {np.median(x.std(axis=1, ddof=1)):.4f}, "
              f"pheno {pheno.shape[0]} x {pheno.shape[1]} ({', '.join(map(str, pheno.columns[:6]))}"
              f"{', ...' if pheno.shape[1] > 6 else ''}), load from cache {dt * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
