"""Platform text, made safe to show: nothing a customer writes can style,
move the cursor or hide itself on an operator's terminal."""

from __future__ import annotations

import unicodedata

from rich.text import Text

# Invisible or direction-changing characters that could hide or reorder text.
_INVISIBLE = {
    "\u200b",
    "\u200c",
    "\u200d",
    "\u2060",
    "\ufeff",  # zero-width space/joiners, word joiner, BOM
    "\u202a",
    "\u202b",
    "\u202c",
    "\u202d",
    "\u202e",  # bidi embeddings and overrides
    "\u2066",
    "\u2067",
    "\u2068",
    "\u2069",
    "\u200e",
    "\u200f",
    "\u061c",  # bidi isolates and marks
}


def _visible(ch: str) -> str:
    code = ord(ch)
    if ch in _INVISIBLE:
        return f"<U+{code:04X}>"
    if code < 0x20 or code == 0x7F:
        return "^" + chr(code ^ 0x40)  # ESC shows as ^[, BEL as ^G
    if 0x80 <= code < 0xA0:
        return f"<U+{code:04X}>"  # C1 controls, e.g. the 8-bit CSI
    if unicodedata.category(ch) in ("Cf", "Co", "Cs", "Cn") and ch not in "\u00ad":
        return f"<U+{code:04X}>"
    return ch


def literal(text: str, keep_newlines: bool = True) -> str:
    """The text with every control and invisible character replaced by a visible stand-in."""
    out = []
    for ch in text:
        if ch == "\n" and keep_newlines:
            out.append(ch)
        elif ch == "\t":
            out.append("    ")
        else:
            out.append(_visible(ch))
    return "".join(out)


def one_line(text: str, width: int | None = None) -> str:
    """First line of the literal text, shortened with an ellipsis."""
    line = literal(" ".join(text.split()), keep_newlines=False)
    if width is not None and len(line) > width:
        line = line[: max(width - 1, 0)] + "…"
    return line


def literal_text(text: str, style: str = "") -> Text:
    """A Rich Text that is never parsed for markup."""
    return Text(literal(text), style=style)
