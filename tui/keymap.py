"""Keys remapped from a file: binding id to key(s), applied with Textual's `set_keymap`.

The file is YAML, either a mapping of ids to keys or the same under a `keymap:` section
(so it can be cut from a larger config file):

    keymap:
      conv.reply: "a"            # reply with a instead of r
      conv.assign: "ctrl+o"
      app.quit_q: "q,Q"          # several keys: comma-separated

It is read from $SHIFTDESK_KEYMAP if set, else $XDG_CONFIG_HOME/shiftdesk/keymap.yaml
(~/.config/shiftdesk/keymap.yaml) when that file exists. `?` in the console shows the keys
in force, and the help is built from the same bindings, so they never disagree.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml


class KeymapError(Exception):
    """The keymap file is not usable; the message names the file and the key."""


def keymap_path() -> Path | None:
    explicit = os.environ.get("SHIFTDESK_KEYMAP")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    found = Path(base) / "shiftdesk" / "keymap.yaml"
    return found if found.exists() else None


def load_keymap(path: Path) -> dict[str, str]:
    """The keymap in `path`, as binding id -> comma-separated keys."""
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise KeymapError(f"{path}: cannot read the keymap ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise KeymapError(f"{path}: not valid YAML ({exc})") from None
    if isinstance(data, dict) and "keymap" in data:
        data = data["keymap"]
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise KeymapError(f"{path}: expected a mapping of binding ids to keys")
    keymap: dict[str, str] = {}
    for binding_id, keys in data.items():
        if isinstance(keys, list) and all(isinstance(k, str) for k in keys):
            keys = ",".join(keys)
        if not isinstance(keys, str) or not keys.strip():
            raise KeymapError(
                f"{path}: keymap.{binding_id}: expected a key such as 'r' or 'ctrl+o'"
            )
        keymap[str(binding_id)] = keys
    return keymap


def default_keymap() -> dict[str, str]:
    path = keymap_path()
    return load_keymap(path) if path is not None else {}


def check_keymap(keymap: dict[str, str], known: Iterable[str]) -> dict[str, str]:
    """The keymap, if every id in it names a binding; else a KeymapError naming the stranger."""
    known = set(known)
    for binding_id in keymap:
        if binding_id not in known:
            raise KeymapError(
                f"keymap: unknown binding id {binding_id!r}; known ids: {', '.join(sorted(known))}"
            )
    return keymap
