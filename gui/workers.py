"""Run heavy work off the UI thread: an unstarted ``Worker`` and the ``JobRunner`` that hosts it.

A ``Worker`` wraps a plain function. The function receives a ``progress`` keyword argument, a
Qt-free :data:`engine.progress.ProgressCallback` that relays progress as a signal and raises
:data:`study.errors.Cancelled` once :meth:`Worker.cancel` was called. Exceptions never get
lost: they come back as ``failed(str)`` (one line; the traceback is kept in ``worker.traceback``).

``JobRunner`` runs workers on ``QThread``\\s and owns the status-bar widget (label, progress bar,
Cancel button) that the main window shows while any job runs. Starting a job with the label of a
running one supersedes it: the older one is cancelled and its result is dropped.

Typical use in a tab::

    worker = Worker(gate_batch, paths, strategy)
    worker.finished.connect(self._on_gated)      # gets the return value of gate_batch
    worker.call_in_ui(worker.failed, lambda msg: self.status.setText(msg))  # lambdas: see call_in_ui
    self.jobs.start(worker, "Gating 24 files")

Failures are shown to the user by the main window (``JobRunner.job_failed``); tabs do not need
to open their own dialog for a worker failure.
"""
from __future__ import annotations

import threading
import time
import traceback as _tb
from typing import Any, Callable

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from study.errors import CANCELLED, Cancelled, is_user_error

__all__ = ["Worker", "JobRunner", "one_line_error"]


def one_line_error(exc: BaseException) -> str:
    """The message shown to the user: first line of ``str(exc)``, prefixed by the type unless it is ours."""
    text = str(exc).strip().splitlines()[0].strip() if str(exc).strip() else ""
    if is_user_error(exc):
        return text or type(exc).__name__
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


class _UiCall(QObject):
    """Calls ``fn`` in the thread that created this object (the UI thread), via a queued call.

    A plain function or lambda connected to a worker's signal runs in the WORKER's thread
    (PySide6 has no receiver object to queue to); UI code must never run there.
    """

    def __init__(self, fn: Callable[..., Any]) -> None:
        super().__init__()
        self.fn = fn

    def call(self, *args: Any) -> None:
        self.fn(*args)


class Worker(QObject):
    """Runs ``fn(*args, progress=..., **kwargs)`` once, in whatever thread calls :meth:`run`.

    Signals: ``progress(done, total, message)``, ``finished(result)``, ``failed(message)``,
    ``cancelled()``. Exactly one of the last three is emitted per run.
    """

    progress = Signal(int, int, str)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()

    #: minimum seconds between two relayed progress signals (first/last always go through)
    throttle = 0.05

    def __init__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self._cancel = threading.Event()
        self._last_emit = 0.0
        self.result: Any = None
        self.error: str | None = None
        self.traceback: str | None = None
        self.state = "ready"  # ready | running | finished | failed | cancelled
        self._ui_calls: list[_UiCall] = []

    def call_in_ui(self, signal, fn: Callable[..., Any]) -> None:
        """Connect one of this worker's signals to ``fn`` so that ``fn`` runs in the calling (UI) thread.

        Use it for lambdas, closures and ``functools.partial``; bound methods of QObjects living in
        the UI thread are queued there by Qt already. Call it before the worker starts.
        """
        relay = _UiCall(fn)
        self._ui_calls.append(relay)  # kept alive as long as the worker
        signal.connect(relay.call)

    def cancel(self) -> None:
        """Ask the function to stop at its next progress report (thread-safe)."""
        self._cancel.set()

    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    def _progress(self, done: int, total: int, message: str = "") -> None:
        if self._cancel.is_set():
            raise Cancelled(message or "cancelled")
        now = time.monotonic()
        if done <= 0 or done >= total or now - self._last_emit >= self.throttle:
            self._last_emit = now
            self.progress.emit(int(done), int(total), str(message))
        return None

    @Slot()
    def run(self) -> None:
        """Call the function and emit the outcome; never raises."""
        self.state = "running"
        try:
            if self._cancel.is_set():
                raise Cancelled("cancelled before start")
            result = self.fn(*self.args, progress=self._progress, **self.kwargs)
        except CANCELLED:
            self.state = "cancelled"
            self.cancelled.emit()
        except Exception as exc:  # relayed to the UI, never lost
            self.state = "failed"
            self.error = one_line_error(exc)
            self.traceback = _tb.format_exc()
            self.failed.emit(self.error)
        else:
            if self._cancel.is_set():  # superseded while finishing: drop the result
                self.state = "cancelled"
                self.cancelled.emit()
            else:
                self.state = "finished"
                self.result = result
                self.finished.emit(result)


class _Job:
    __slots__ = ("label", "worker", "thread")

    def __init__(self, label: str, worker: Worker, thread: QThread) -> None:
        self.label, self.worker, self.thread = label, worker, thread


class JobRunner(QObject):
    """Starts workers on threads and shows their progress in ``self.widget`` (status-bar widget).

    ``job_finished(label)`` is emitted when a job has ended, whatever the outcome;
    ``job_failed(label, message)`` when it failed (the main window opens an error dialog).
    """

    job_started = Signal(str)
    job_finished = Signal(str)
    job_failed = Signal(str, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._jobs: list[_Job] = []
        self.widget = QWidget()
        self.widget.setObjectName("jobStatus")
        lay = QHBoxLayout(self.widget)
        lay.setContentsMargins(0, 0, 0, 0)
        self.label = QLabel()
        self.progress_bar = QProgressBar()
        self.progress_bar.setMaximumWidth(220)
        self.progress_bar.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the running job; nothing half-finished is kept")
        self.cancel_button.clicked.connect(self.cancel)
        for w in (self.label, self.progress_bar, self.cancel_button):
            lay.addWidget(w)
        self.widget.setVisible(False)

    # -- public API ---------------------------------------------------------------------------
    def start(self, worker: Worker, label: str) -> Worker:
        """Run ``worker`` on a new thread; a running job with the same label is cancelled first."""
        for job in self._jobs:
            if job.label == label:
                job.worker.cancel()
        thread = QThread(self)
        thread.setObjectName(f"job:{label}")
        worker.moveToThread(thread)
        job = _Job(label, worker, thread)
        self._jobs.append(job)
        thread.started.connect(worker.run)
        worker.progress.connect(self._on_progress)
        worker.failed.connect(self._on_failed)
        # quit the thread whatever the outcome; run() emits exactly one of these
        # (direct: QThread.quit is thread-safe, and shutdown() may be blocking the GUI thread)
        worker.finished.connect(thread.quit, Qt.DirectConnection)
        worker.failed.connect(thread.quit, Qt.DirectConnection)
        worker.cancelled.connect(thread.quit, Qt.DirectConnection)
        thread.finished.connect(self._on_thread_finished)
        self.label.setText(label)
        self.progress_bar.setRange(0, 0)  # busy until the first report
        self.widget.setVisible(True)
        self.cancel_button.setEnabled(True)
        thread.start()
        self.job_started.emit(label)
        return worker

    @Slot()
    def cancel(self) -> None:
        """Cancel every running job (cooperative: the job stops at its next progress report)."""
        for job in self._jobs:
            job.worker.cancel()
        if self._jobs:
            self.label.setText("Cancelling…")
            self.cancel_button.setEnabled(False)

    def is_running(self) -> bool:
        return bool(self._jobs)

    def running_labels(self) -> list[str]:
        return [j.label for j in self._jobs]

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Cancel all jobs and wait for their threads (on window close / test teardown)."""
        self.cancel()
        ok = True
        for job in list(self._jobs):
            ok = job.thread.wait(timeout_ms) and ok
        # deliver the queued thread-finished notifications so the bookkeeping is clean
        for job in list(self._jobs):
            if job.thread.isFinished():
                self._finish(job)
        return ok

    # -- slots --------------------------------------------------------------------------------
    @Slot(int, int, str)
    def _on_progress(self, done: int, total: int, message: str) -> None:
        worker = self.sender()
        if not self._jobs or worker is not self._jobs[-1].worker:
            return  # only the newest job drives the bar
        if total > 0:
            self.progress_bar.setRange(0, total)
            self.progress_bar.setValue(min(done, total))
        else:
            self.progress_bar.setRange(0, 0)
        label = self._jobs[-1].label
        self.label.setText(f"{label}: {message}" if message else label)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        worker = self.sender()
        for job in self._jobs:
            if job.worker is worker:
                self.job_failed.emit(job.label, message)
                return

    @Slot()
    def _on_thread_finished(self) -> None:
        thread = self.sender()
        for job in list(self._jobs):
            if job.thread is thread:
                self._finish(job)

    def _finish(self, job: _Job) -> None:
        if job not in self._jobs:
            return
        self._jobs.remove(job)
        job.thread.deleteLater()
        if self._jobs:
            self.label.setText(self._jobs[-1].label)
            self.cancel_button.setEnabled(True)
        else:
            self.widget.setVisible(False)
            self.progress_bar.reset()
            self.label.clear()
        self.job_finished.emit(job.label)
