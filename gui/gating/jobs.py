"""Background jobs of the Gating tab (mixed into it): DAFi on the current sample, auto-tune of one
gate on every sample with its review, and "Apply to all samples". The work itself is Qt-free
(:mod:`study.gating_jobs`); here it runs in workers and its results are shown."""
from __future__ import annotations

from engine.progress import report
from gui.workers import Worker
from study.gating_jobs import autotune_samples, gate_samples, parent_coordinates, refine_sample, shift_text


def review_thumbnails(samples: dict, strategy, gate_id: str, results: dict, *, progress=None) -> list[dict]:
    """What the auto-tune review shows per sample (computed in the worker, no Qt): the parent's
    events binned into an image, the template and adapted outlines, and the move in data units."""
    from gui.plots.binning import data_range, histogram2d, log_density
    from gui.plots.decades import decade_ticks
    from gui.plots.gate_items import outline

    gate = strategy.gates[gate_id]
    dims = (gate.dimensions * 2)[:2]  # a range gate: its one dimension on both axes
    axis_transforms = [strategy.transforms.get(d.transform_ref) if d.transform_ref else None for d in dims]
    thumbs = []
    for i, (name, res) in enumerate(results.items()):
        report(progress, i, len(results), f"review {name}")
        if isinstance(res, str):
            thumbs.append({"sample": name, "error": res})
            continue
        coords = parent_coordinates(samples[name], strategy, gate_id)
        x, y = coords[:, 0], coords[:, 1]
        xr, yr = data_range(x), data_range(y)
        thumbs.append({"sample": name, "x": x, "y": y, "x_range": xr, "y_range": yr,
                       "image": log_density(histogram2d(x, y, bins=96, x_range=xr, y_range=yr)),
                       "old": outline(gate), "new": outline(res.gate), "shift": float(res.shift),
                       "shift_text": shift_text(strategy, gate, res.moved), "gate": res.gate,
                       "x_ticks": decade_ticks(axis_transforms[0], xr, min_gap=0.1),  # ~200 px thumbnails
                       "y_ticks": decade_ticks(axis_transforms[1], yr, min_gap=0.1)})
    return thumbs


def autotune_with_review(items, strategy, gate_id: str, *, progress=None) -> tuple[dict, list[dict]]:
    """Worker function: auto-tune ``gate_id`` on every sample, then build the review's thumbnails."""
    results = autotune_samples(items, strategy, gate_id, progress=progress)
    return results, review_thumbnails(dict(items), strategy, gate_id, results, progress=progress)


class GatingJobsMixin:
    """DAFi, auto-tune and batch jobs of ``GatingTab``."""

    def _start(self, worker: Worker, label: str) -> Worker:
        self._workers = [w for w in self._workers if w.state in ("ready", "running")]
        self._workers.append(worker)
        return self.jobs.start(worker, label)

    # ---------------------------------------------------------------- DAFi
    @property
    def dafi_(self):
        """The last fitted ``DafiRefiner`` of the current sample (``None`` if none)."""
        return self.session.refiner

    def refine_with_dafi(self) -> Worker | None:
        """Run DAFi on the current sample in a worker; the result shows as a colour overlay."""
        s = self.sample()
        if s is None or not self.strategy().gates:
            return None
        strategy = self._with_axes_transforms(self._strategy_for(self.current_sample))
        worker = Worker(refine_sample, s, strategy, self.session.dafi_settings())
        worker.finished.connect(self._on_dafi_done)
        return self._start(worker, f"DAFi on {self.current_sample}")

    def _on_dafi_done(self, refiner) -> None:
        self.session.refiner = refiner
        self.tree_model.set_dafi(self.session.dafi_counts())
        self.tree_view.setColumnHidden(5, False)
        self.tree_view.resizeColumnToContents(5)
        from gui.gating.layout import fit_population_pane
        fit_population_pane(self)  # room for the DAFi / plain column
        self._draw_dafi_overlay()
        self.dafi_refined.emit(refiner)

    def _forget_dafi(self) -> None:
        self.session.refiner = None
        self.tree_model.set_dafi({})
        self.tree_view.setColumnHidden(5, True)

    def _draw_dafi_overlay(self) -> None:
        self.plot.clear_overlay()
        if self.dafi_ is None or not self.gate_items or self.plot.view_box.one_d:
            return
        gates = [item.gate for item in self.gate_items.values()]
        keep = self.session.dafi_mask(gates)
        if keep is None:
            return
        dims = self.current_dimensions()
        self.plot.set_overlay(self.values(dims[0])[keep], self.values(dims[1])[keep])
        mem = self.dafi_.membership_
        shown = [p for g in gates for p in g.population_ids() if p in mem]
        parts = [f"{p.rsplit('/', 1)[-1]} {self.tree_model.dafi_text(p)}" for p in shown
                 if self.tree_model.dafi_text(p)]
        shrunk = list(getattr(self.dafi_, "warnings_", []))
        self.status.setText("DAFi refined / plain: " + ("; ".join(parts) or "no gate in view")
                            + (f". Warning: {'; '.join(shrunk)}" if shrunk else ""))

    # ---------------------------------------------------------------- auto-tune
    def autotune_selected(self) -> Worker | None:
        pid = self.tree_model.population_id(self.tree_view.currentIndex())
        return self.autotune(pid) if pid else None

    def autotune(self, gate_id: str) -> Worker | None:
        strategy = self.strategy()
        if gate_id not in strategy.gates:
            return None
        items = [(n, self.session.sample_or_error(n)) for n in self.sample_model.names()]
        worker = Worker(autotune_with_review, items, self._with_axes_transforms(strategy), gate_id)
        # a lambda would run in the worker thread (and open the review dialog there)
        worker.call_in_ui(worker.finished, lambda out, g=gate_id: self._autotune_done(g, *out))
        worker.call_in_ui(worker.cancelled, lambda g=gate_id: self.status.setText(f"Cancelled: auto-tune {g}"))
        return self._start(worker, f"Auto-tune {gate_id}")

    def autotune_thumbnails(self, gate_id: str, results: dict) -> list[dict]:
        """What the review dialog shows per sample (built here on the UI thread; the auto-tune job
        builds them in its worker): the parent's events, old and new outline, the move in data units."""
        samples = {n: self.session.sample_or_error(n) for n in results}
        return review_thumbnails(samples, self._with_axes_transforms(self.strategy()), gate_id, results)

    def _autotune_done(self, gate_id: str, results: dict, thumbs: list[dict]) -> None:
        self.autotune_review_ = thumbs  # built in the worker
        self._on_autotuned(gate_id, results)

    def _on_autotuned(self, gate_id: str, results: dict) -> None:
        self.autotune_ = (gate_id, results)
        thumbs = getattr(self, "autotune_review_", None)
        if thumbs is None or [t["sample"] for t in thumbs] != list(results):
            thumbs = None  # not this run's (built on demand below)
        self.autotune_finished.emit(results)
        moved = [t for t in thumbs or [] if t.get("shift_text", "not moved") != "not moved"]
        self.status.setText(f"Auto-tune {gate_id}: {len(moved)} of {len(results)} sample(s) moved"
                            + (f"; {moved[0]['sample']}: {moved[0]['shift_text']}" if moved else ""))
        if getattr(self, "autotune_interactive", True):
            from gui.gating_dialogs import AutoTuneDialog
            if thumbs is None:
                thumbs = self.autotune_thumbnails(gate_id, results)
            dlg = AutoTuneDialog(gate_id, thumbs, self)
            if dlg.exec():
                self.accept_autotune(gate_id, results, dlg.accepted_samples())

    def accept_autotune(self, gate_id: str, results: dict, samples: list[str]) -> None:
        """Store the adapted gate as a per-sample override for ``samples``; revert the others."""
        settings = self.session.dafi_settings().with_autotune(gate_id, results, samples)
        self.project.update_section("dafi", settings.to_dict(), undoable=True, text=f"Auto-tune {gate_id}")
        self.session.clear_cache()
        self.refresh()

    # ---------------------------------------------------------------- apply to all
    def apply_to_all(self) -> Worker:
        """Gate every sample (with its overrides) in a worker; shows the results table."""
        worker = Worker(gate_samples, self.session.batch_items(self.sample_model.names()))
        worker.finished.connect(self._on_batch_done)
        worker.call_in_ui(worker.cancelled, lambda: self.status.setText("Cancelled: apply gates to all samples"))
        return self._start(worker, "Apply gates to all samples")

    def _on_batch_done(self, result) -> None:
        self.batch_ = (result.counts, result.errors)
        self.batch_finished.emit(self.batch_)
        from gui.gating_dialogs import BatchResultsDialog
        self.batch_dialog = BatchResultsDialog(result.counts, result.errors, self.project, self)
        self.batch_dialog.setModal(False)
        self.batch_dialog.show()
