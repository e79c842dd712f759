"""Unsent texts, kept per conversation on this machine.

An operator who opens another conversation, loses the connection or restarts the console
finds the half-written reply where they left it. Drafts are keyed by backend URL, operator
and conversation, so two backends or two operators on one account never see each other's.
The file may hold personal data a customer sent in a DM, so it is private to the user (0600).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

KEEP_DAYS = 14  # a draft untouched this long is from a shift long over (or a demo): dropped


@dataclass
class Draft:
    """What the composer held: its mode, the text, and stage 1 of a move to DM."""

    mode: str = "reply"
    text: str = ""
    ack_text: str = ""

    @property
    def empty(self) -> bool:
        return not self.text.strip() and not self.ack_text.strip()


def default_path() -> Path:
    """$XDG_STATE_HOME/shiftdesk/drafts.json, else ~/.local/state/shiftdesk/drafts.json."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "shiftdesk" / "drafts.json"


class DraftStore:
    """Drafts by conversation for one backend and operator; `path=None` keeps them in memory only."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.scope = ""
        self._all: dict[str, dict[str, Any]] = self._read()

    def _read(self) -> dict[str, dict[str, Any]]:
        if self.path is None or not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            # A damaged file must not stop the console; keep it aside for whoever wants to look.
            self.path.replace(self.path.with_suffix(".damaged"))
            return {}
        if not isinstance(data, dict):
            return {}
        oldest = time.time() - KEEP_DAYS * 86400
        return {
            k: v for k, v in data.items() if isinstance(v, dict) and v.get("saved_at", 0) >= oldest
        }

    def use(self, backend_url: str, operator_id: int) -> None:
        """Work with this backend's and this operator's drafts from now on."""
        self.scope = f"{backend_url.rstrip('/')}|{operator_id}|"

    def get(self, conversation_id: int) -> Draft | None:
        raw = self._all.get(self.scope + str(conversation_id))
        if not isinstance(raw, dict):
            return None
        return Draft(
            str(raw.get("mode", "reply")), str(raw.get("text", "")), str(raw.get("ack_text", ""))
        )

    def put(self, conversation_id: int, draft: Draft) -> None:
        """Keep the draft (an empty one is forgotten) and write the file."""
        key = self.scope + str(conversation_id)
        if draft.empty:
            if self._all.pop(key, None) is None:
                return
        else:
            old = self._all.get(key) or {}
            if {k: old.get(k) for k in asdict(draft)} == asdict(draft):
                return
            self._all[key] = {**asdict(draft), "saved_at": int(time.time())}
        self._write()

    def drop(self, conversation_id: int) -> None:
        """Forget the draft: it was sent."""
        if self._all.pop(self.scope + str(conversation_id), None) is not None:
            self._write()

    def conversations(self) -> list[int]:
        """The conversations this operator has unsent drafts for."""
        return [int(k[len(self.scope) :]) for k in self._all if k.startswith(self.scope)]

    def _write(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename: a crash mid-write leaves the old file, never half of one.
        fd, tmp = tempfile.mkstemp(prefix=".drafts-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(self._all, f, ensure_ascii=False, indent=1)
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
