"""Reading the project's FCS files off the UI thread, once, whoever asks first.

Both the main window (Open, Import FCS folder, recovery) and the Gating tab (a project whose file
list changed) call :func:`read_missing_samples`. At most one reading job runs per project: a call
while one runs is remembered and served when it ends, so no file is read twice and no reading
job supersedes another. Results reach the project through ``project.set_samples`` (which emits
``samples_changed`` and ``samples_loaded``); a result that arrives after the project was replaced
(New/Open) is dropped.
"""
from __future__ import annotations

from pathlib import Path

from engine.progress import report
from gui.workers import Worker, one_line_error

__all__ = ["read_samples", "read_missing_samples", "missing_paths", "reading_label", "fcs_files_to_add",
           "skipped_message", "FCS_FILTER"]

FCS_FILTER = "Cytometry files (*.fcs *.FCS *.lmd *.LMD);;All files (*)"


def fcs_files_to_add(project, paths) -> tuple[list[Path], dict[str, str]]:
    """The FCS/LMD files among ``paths`` (files and folders) the project does not list yet, and a
    reason for each file left out: not FCS/LMD (see :func:`study.fcs_files.collect_fcs_files`),
    already in the project, or named like a listed sample (samples are named after their file)."""
    from study.fcs_files import collect_fcs_files

    files, skipped = collect_fcs_files(paths)
    listed = {p.resolve() for p in project.fcs_paths()}
    names = {p.stem: p for p in project.fcs_paths()}
    new: list[Path] = []
    for f in files:
        if f.resolve() in listed:
            skipped[f.name] = "already in the project"
        elif f.stem in names:
            skipped[f.name] = f"a sample named {f.stem!r} is already listed (from {names[f.stem]})"
        else:
            names[f.stem] = f
            new.append(f)
    return new, skipped


def skipped_message(skipped: dict[str, str], limit: int = 15) -> tuple[str, str]:
    """(message, details): how many files were left out and why, one "name: reason" line each."""
    lines = [f"{name}: {why}" for name, why in skipped.items()]
    shown = lines[:limit] + ([f"… and {len(lines) - limit} more (see details)"] if len(lines) > limit else [])
    return f"{len(lines)} file(s) left out:\n" + "\n".join(shown), "\n".join(lines)


def read_samples(paths: list[Path], *, progress=None) -> dict:
    """Read FCS files (worker function): name -> Sample, or the one-line error of an unreadable file."""
    from gating.sample import read_fcs

    out: dict = {}
    n = len(paths)
    for i, p in enumerate(paths):
        report(progress, i, n, f"Reading {Path(p).name}")
        try:
            out[Path(p).stem] = read_fcs(p)
        except Exception as exc:  # one bad file must not stop the batch
            out[Path(p).stem] = one_line_error(exc)
    report(progress, n, n, "FCS files read")
    return out


def missing_paths(project) -> list[Path]:
    """The project's FCS files that are not loaded (nor known to be unreadable) yet."""
    return [p for p in project.fcs_paths() if p.stem not in project.samples]


def reading_label(n: int) -> str:
    return f"Reading {n} FCS file{'s' if n != 1 else ''}"


def read_missing_samples(project, jobs) -> Worker | None:
    """Start reading the project's unread FCS files in a worker; None when there is nothing to read.

    While a reading job of this project runs, the call returns that job and another one follows
    when it ends (for files added meanwhile).
    """
    running = project.sample_reader  # set until its outcome has been handled here (queued to this thread)
    if running is not None:
        project.read_again = True
        return running
    paths = missing_paths(project)
    if not paths or jobs is None:
        return None
    generation = project.generation
    worker = Worker(read_samples, paths)
    project.sample_reader = worker
    project.read_again = False
    project.reading = {p.stem for p in paths}

    def ended(keep: dict | None) -> None:
        if project.sample_reader is worker:
            project.sample_reader = None
            project.reading = set()
        if generation != project.generation:
            return  # the project was replaced (New/Open) while reading
        if keep is not None:
            project.set_samples(keep)
        if project.read_again:
            project.read_again = False
            read_missing_samples(project, jobs)
        elif keep is None:
            project.samples_changed.emit()  # cancelled/failed: the list shows the files as not read

    worker.call_in_ui(worker.finished, ended)
    worker.call_in_ui(worker.failed, lambda _msg: ended(None))
    worker.call_in_ui(worker.cancelled, lambda: ended(None))
    return jobs.start(worker, reading_label(len(paths)))
