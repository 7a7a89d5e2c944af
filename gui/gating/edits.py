"""Edits of the gate tree, DAFi settings, spillover matrix and Gating-ML files (mixed into the
Gating tab). Every edit is one undoable project change; the tab redraws when the project reports it."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox

from gui.models.population_tree import MODES
from gui.plots.gate_items import shape_to_gate
from study.gating_session import next_gate_id
from study.gating_settings import DafiSettings, compensation_section, spillover_to_edit

TEMPLATE_FILTER = "Gating templates (*.xml *.wsp *.json);;All files (*)"


class GateEditsMixin:
    """Gate-tree, DAFi-setting, spillover and Gating-ML edits of ``GatingTab``."""

    # ---------------------------------------------------------------- gates
    def commit(self, strategy, text: str) -> None:
        """Make ``strategy`` the project's strategy as one undoable step."""
        self.project.strategy = strategy
        self.project.update_section("strategy", strategy.to_dict(), undoable=True, text=text)

    def _edited_copy(self):
        return self.strategy().copy()

    def _try_edit(self, title: str, edit) -> object | None:
        """A copy of the strategy changed by ``edit(copy)``; ``None`` (after a warning) if refused."""
        s = self._edited_copy()
        try:
            edit(s)
        except Exception as exc:
            QMessageBox.warning(self, title, str(exc))
            return None
        return s

    def rename_gate(self, old: str, new: str) -> None:
        s = self._try_edit("Cannot rename", lambda st: st.rename_gate(old, new))
        if s is None:
            return
        if self.current_population == old:
            self.current_population = new
        self.commit(s, f"Rename {old} to {new}")

    def reparent_gate(self, gate_id: str, new_parent) -> None:
        s = self._try_edit("Cannot move", lambda st: st.reparent(gate_id, new_parent))
        if s is not None:
            self.commit(s, f"Move {gate_id} under {new_parent or 'all events'}")

    def delete_gate(self, gate_id: str) -> None:
        s = self._edited_copy()
        s.remove_gate(gate_id)
        if self.current_population is not None and self.current_population not in s.population_ids():
            self.current_population = None
        self.commit(s, f"Delete {gate_id}")

    def delete_selected(self) -> None:
        pid = self.tree_model.population_id(self.tree_view.currentIndex())
        strategy = self.strategy()
        if pid is None:
            return
        gid = pid if pid in strategy.gates else strategy.gate_of(pid).id
        self.current_population = strategy.gate_of(pid).parent_id
        self.delete_gate(gid)

    def _tree_menu(self, pos) -> None:
        pid = self.tree_model.population_id(self.tree_view.indexAt(pos))
        strategy = self.strategy()
        if pid is None or pid not in strategy.gates:
            return
        menu = QMenu(self)
        menu.addAction("Rename", lambda: self.tree_view.edit(self.tree_model.index_of(pid)))
        menu.addAction("Delete", lambda: self.delete_gate(pid))
        move = menu.addMenu("Move under")
        move.addAction("All events", lambda: self.reparent_gate(pid, None))
        for other in strategy.population_ids():
            if other != pid and not self.tree_model.is_descendant(other, pid):
                move.addAction(other, lambda o=other: self.reparent_gate(pid, o))
        mode = menu.addMenu("DAFi mode")
        for m in MODES:
            mode.addAction(m, lambda m=m: self.set_dafi_mode(pid, m))
        menu.addAction("Auto-tune on all samples", lambda: self.autotune(pid))
        menu.exec(self.tree_view.viewport().mapToGlobal(pos))

    def _on_shape_drawn(self, kind: str, points) -> None:
        if self.sample() is None:
            return
        strategy = self._with_axes_transforms(self.strategy()).copy()
        dims = self.current_dimensions()
        if kind == "range" and dims[0] != dims[1]:
            dims = (dims[0],)
        try:
            gate = shape_to_gate(kind, points, gate_id=next_gate_id(strategy, kind),
                                 parent_id=self.current_population, dimensions=dims)
            strategy.add_gate(gate)
        except Exception as exc:
            QMessageBox.warning(self, "Cannot add gate", str(exc))
            return
        self.commit(strategy, f"Draw {gate.id}")
        self.set_tool("select")

    def _on_gate_edited(self, gate) -> None:
        strategy = self._edited_copy()
        strategy.replace_gate(gate)
        self.commit(strategy, f"Edit {gate.id}")

    # ---------------------------------------------------------------- DAFi settings
    def dafi_settings(self) -> dict:
        """The ``dafi`` section with every setting filled in (a copy to edit)."""
        return self.session.dafi_settings().to_dict()

    def _store_dafi(self, settings: DafiSettings, text: str) -> None:
        self.project.update_section("dafi", settings.to_dict(), undoable=True, text=text)

    def set_dafi_mode(self, gate_id: str, mode: str) -> None:
        self._store_dafi(self.session.dafi_settings().with_mode(gate_id, mode), f"DAFi mode of {gate_id}: {mode}")

    def set_recluster(self, gate_id: str, on: bool) -> None:
        self._store_dafi(self.session.dafi_settings().with_recluster(gate_id, on), f"Re-cluster {gate_id}: {on}")

    def edit_dafi_settings(self) -> None:
        from gui.gating_dialogs import DafiSettingsDialog
        s = self.sample()
        dlg = DafiSettingsDialog(list(s.channels) if s is not None else [], self.session.dafi_settings(), self)
        if dlg.exec():
            self._store_dafi(dlg.settings(), "DAFi settings")

    # ---------------------------------------------------------------- spillover
    def edit_spillover(self) -> None:
        from gui.gating_dialogs import SpilloverDialog
        spill = spillover_to_edit(self.project.section("compensation"), self.sample())
        if spill is None:
            QMessageBox.information(self, "Spillover", "The current sample has no spillover matrix.")
            return
        dets, mat = spill
        dlg = SpilloverDialog(dets, mat, self)
        if dlg.exec():
            self.set_spillover(dets, dlg.matrix())

    def set_spillover(self, detectors: list[str], matrix) -> None:
        """Use an edited spillover matrix for compensation (undoable, saved in the project)."""
        self.project.update_section("compensation", compensation_section(detectors, matrix),
                                    undoable=True, text="Edit spillover matrix")
        self.compensate.setChecked(True)

    # ---------------------------------------------------------------- files
    def import_gatingml(self, path) -> None:
        """Replace the gates by a template recognised by content (Gating-ML, FlowJo workspace, JSON)."""
        from gating.templates import load_template
        self.current_population = None
        self.commit(load_template(str(path)), f"Import {Path(path).name}")
        self.select_population(None)

    def export_gatingml(self, path) -> None:
        from gating.gatingml import to_gatingml_string
        from study.files import write_text
        write_text(path, to_gatingml_string(self._with_axes_transforms(self.strategy())))

    def _file_action(self, kind: str) -> None:
        path = ""
        try:
            if kind == "import":
                path, _ = QFileDialog.getOpenFileName(self, "Import gates", "", TEMPLATE_FILTER)
                if path:
                    self.import_gatingml(path)
            else:
                path, _ = QFileDialog.getSaveFileName(self, "Export Gating-ML", "gates.xml", "Gating-ML (*.xml)")
                if path:
                    self.export_gatingml(path)
        except Exception as exc:
            QMessageBox.warning(self, "Gating-ML", f"{path}: {exc}")
