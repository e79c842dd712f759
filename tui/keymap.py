"""Keys remapped from the console's config: `tui.keymap`, binding id to key(s), applied with
Textual's `set_keymap`.

    tui:
      keymap:
        conv.reply: a              # reply with a instead of r
        conv.assign: ctrl+o
        app.quit_q: [q, Q]         # several keys: a list, or "q,Q"

`shiftdesk tui` reads it with the rest of the config (config/shiftdesk.yaml, then each
`--config FILE`) and checks it here before the console starts: an id no binding has, or a key
that would then do two things on one screen, stops it with the file and line. `?` shows the
keys in force, built from the same bindings, so they never disagree.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence

from textual.binding import Binding
from textual.keys import _character_to_key

# Bindings that are live at the same time (a focus chain: the focused widget, its screen, the
# app), by the name of the place an operator would say. A key may mean one thing per place.
Scopes = Mapping[str, Sequence[Binding]]


class KeymapError(Exception):
    """The keymap is not usable; the message names each binding id and what is wrong."""


def normalize(keys: str) -> str:
    """Keys by the names Textual gives them in bindings ('?' is question_mark, '/' slash), so
    '?' in a keymap clashes with a binding's question_mark and the help shows it as '?'."""
    out = []
    for key in keys.split(","):
        key = key.strip()
        out.append(_character_to_key(key) if len(key) == 1 else key)
    return ",".join(out)


def _keys_of(binding: Binding, keymap: Mapping[str, str]) -> list[str]:
    keys = keymap.get(binding.id, binding.key) if binding.id else binding.key
    return [k for k in normalize(keys).split(",") if k]


def _holders(bindings: Sequence[Binding], keymap: Mapping[str, str]) -> dict[str, set[str]]:
    """Key -> the ids (or actions, for a binding without one) it triggers among `bindings`."""
    holders: dict[str, set[str]] = {}
    for binding in bindings:
        for key in _keys_of(binding, keymap):
            holders.setdefault(key, set()).add(binding.id or binding.action)
    return holders


def keymap_problems(keymap: Mapping[str, str], scopes: Scopes) -> list[tuple[str, str]]:
    """(binding id, what is wrong) for every id no binding has, with the nearest one, and for
    every key the keymap puts on two bindings of one place."""
    known = sorted({b.id for bindings in scopes.values() for b in bindings if b.id})
    problems: list[tuple[str, str]] = []
    for binding_id in keymap:
        if binding_id in known:
            continue
        close = difflib.get_close_matches(binding_id, known, n=1, cutoff=0.6)
        if close:
            hint = f"did you mean {close[0]}?"
        else:
            group = binding_id.partition(".")[0]
            same = [k for k in known if k.startswith(group + ".")]
            hint = "known ids: " + ", ".join(
                same or sorted({k.partition(".")[0] + ".…" for k in known})
            )
        problems.append((binding_id, f"unknown binding id ({hint})"))
    told: set[tuple[str, frozenset[str]]] = set()
    for place, bindings in scopes.items():
        # Shared by design (the composer's esc and the screen's): only the keymap's new ones count.
        before = {key: frozenset(ids) for key, ids in _holders(bindings, {}).items()}
        for key, ids in _holders(bindings, keymap).items():
            remapped = sorted(i for i in ids if i in keymap)
            if len(ids) < 2 or not remapped or ids <= before.get(key, frozenset()):
                continue
            if (key, frozenset(ids)) in told:
                continue
            told.add((key, frozenset(ids)))
            others = ", ".join(sorted(ids - {remapped[0]}))
            problems.append((remapped[0], f"{key!r} is also the key of {others} in the {place}"))
    return problems


def check_keymap(keymap: Mapping[str, str], scopes: Scopes) -> dict[str, str]:
    """The keymap with its keys as Textual names them; KeymapError naming every problem."""
    problems = keymap_problems(keymap, scopes)
    if problems:
        raise KeymapError("; ".join(f"keymap: {bid}: {why}" for bid, why in problems))
    return {binding_id: normalize(keys) for binding_id, keys in keymap.items()}
