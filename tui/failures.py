"""One way to report a worker that failed: a notification, never a crash.

Worker.StateChanged does not bubble, so each widget that runs workers hands its
events here from its own `on_worker_state_changed`.
"""

from __future__ import annotations

from textual.dom import DOMNode
from textual.worker import Worker, WorkerState

from .client import BackendError
from .i18n import _
from .notices import tell


def report_worker_failure(node: DOMNode, event: Worker.StateChanged) -> None:
    """Tell the operator what went wrong in a background call, in words."""
    if event.state != WorkerState.ERROR or event.worker.error is None:
        return
    error = event.worker.error
    text = error.message if isinstance(error, BackendError) else f"{type(error).__name__}: {error}"
    tell(node, text, title=_("Something went wrong"), severity="error")
