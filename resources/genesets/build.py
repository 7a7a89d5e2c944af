"""Build the bundled GO gene-set libraries from Debian's Bioconductor annotation packages.

    apt-get install r-bioc-org.hs.eg.db r-bioc-go.db
    python resources/genesets/build.py [--out resources/genesets]

Reads the packages' SQLite databases with Python's sqlite3 (no R): human genes (Entrez) with their
HGNC symbols, and their GO annotations already propagated to every ancestor term (the packages'
``go_*_all`` tables, is_a and part_of). Writes one gzipped GMT per ontology (``go_bp.gmt.gz``,
``go_mf.gmt.gz``, ``go_cc.gmt.gz``): ``#`` header lines name the source packages, their versions
and the GO release date; each set line is ``GO:id term<TAB>evidence codes<TAB>symbol...`` with
10-500 genes. Everything is sorted and the gzip header carries no time or name, so running the
script twice gives byte-identical files. GO is CC BY 4.0 (Gene Ontology Consortium); the
Bioconductor packages are Artistic-2.0.
"""
from __future__ import annotations

import argparse
import gzip
import io
import sqlite3
import subprocess
from pathlib import Path

ORG = Path("/usr/lib/R/site-library/org.Hs.eg.db/extdata/org.Hs.eg.sqlite")
GO = Path("/usr/lib/R/site-library/GO.db/extdata/GO.sqlite")
ONTOLOGIES = {"bp": "biological process", "mf": "molecular function", "cc": "cellular component"}
MIN_SIZE, MAX_SIZE = 10, 500


def _package_version(name: str) -> str:
    out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", name], capture_output=True, text=True)
    return out.stdout.strip() or "unknown"


def _meta(con: sqlite3.Connection) -> dict[str, str]:
    return dict(con.execute("SELECT name, value FROM metadata"))


def gene_sets(org: sqlite3.Connection, go: sqlite3.Connection, ontology: str) -> list[tuple[str, str, list[str]]]:
    """(``GO:id term``, evidence codes, sorted symbols) of every set with 10-500 genes, sorted by id."""
    terms = dict(go.execute("SELECT go_id, term FROM go_term WHERE ontology = ?", (ontology.upper(),)))
    rows = org.execute(f"SELECT a.go_id, a.evidence, g.symbol FROM go_{ontology}_all a "
                       "JOIN gene_info g ON g._id = a._id")
    genes: dict[str, set[str]] = {}
    evidence: dict[str, set[str]] = {}
    for go_id, code, symbol in rows:
        genes.setdefault(go_id, set()).add(symbol)
        evidence.setdefault(go_id, set()).add(code)
    out = []
    for go_id in sorted(genes):
        members = sorted(genes[go_id])
        if MIN_SIZE <= len(members) <= MAX_SIZE and go_id in terms:
            name = " ".join(f"{go_id} {terms[go_id]}".split())  # no tabs or line breaks in a name
            out.append((name, ",".join(sorted(evidence[go_id])), members))
    return out


def gmt_bytes(header: list[str], sets: list[tuple[str, str, list[str]]]) -> bytes:
    """The gzipped GMT (mtime 0, no file name in the header: the same input gives the same bytes)."""
    text = "".join(f"# {line}\n" for line in header)
    text += "".join(f"{name}\t{codes}\t" + "\t".join(members) + "\n" for name, codes, members in sets)
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(text.encode("utf-8"))
    return buf.getvalue()


def build(out: Path) -> dict[str, int]:
    """Write the three libraries into ``out``; returns the number of sets per ontology."""
    org, go = sqlite3.connect(f"file:{ORG}?mode=ro", uri=True), sqlite3.connect(f"file:{GO}?mode=ro", uri=True)
    meta = _meta(org)
    header = [f"source: org.Hs.eg.db {_package_version('r-bioc-org.hs.eg.db')} (Entrez Gene {meta['EGSOURCEDATE']}), "
              f"GO.db {_package_version('r-bioc-go.db')}",
              f"GO release: {meta['GOSOURCEDATE']} ({meta['GOSOURCEURL']})",
              "licence: GO annotations CC BY 4.0 (Gene Ontology Consortium); Bioconductor packages Artistic-2.0",
              f"sets: {MIN_SIZE}-{MAX_SIZE} genes, HGNC symbols, annotations propagated to ancestor terms; "
              "column 2 lists the evidence codes"]
    counts = {}
    out.mkdir(parents=True, exist_ok=True)
    for key, label in ONTOLOGIES.items():
        sets = gene_sets(org, go, key)
        counts[key] = len(sets)
        (out / f"go_{key}.gmt.gz").write_bytes(gmt_bytes([f"GO {label}"] + header, sets))
    return counts


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = ap.parse_args()
    if not (ORG.is_file() and GO.is_file()):
        raise SystemExit("needs Debian's r-bioc-org.hs.eg.db and r-bioc-go.db (apt-get install them)")
    for key, n in build(args.out).items():
        print(f"go_{key}: {n} sets -> {args.out / f'go_{key}.gmt.gz'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
