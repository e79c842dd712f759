"""Text that did not come from the console, made safe to show.

Platform posts, display names, tags, notes, the backend's error messages: nothing in them may
style the terminal, move the cursor, set the window title or the clipboard (OSC 0/2/52), smuggle
a hyperlink (OSC 8), reorder or hide text (bidi overrides and isolates, zero-width and filler
characters) or break a line (U+2028, U+2029, C0/C1 controls). Each such character is drawn as a
visible stand-in instead: ESC as ^[, so an escape sequence shows as inert text an operator can
read, and invisible ones as <U+XXXX>. Every place that prints such text goes through here.
"""

from __future__ import annotations

import unicodedata

from rich.cells import cell_len, set_cell_size
from rich.text import Text

# Characters that show as nothing (or as blank space) in most terminals, so text can hide
# behind them, or whose width terminals disagree on, which shifts the rest of a row.
_INVISIBLE = frozenset(
    "\u200b\u200c\u200d\u2060\ufeff"  # zero-width space/joiners, word joiner, BOM
    "\u202a\u202b\u202c\u202d\u202e"  # bidi embeddings and overrides
    "\u2066\u2067\u2068\u2069"  # bidi isolates
    "\u200e\u200f\u061c"  # bidi marks
    "\u2028\u2029"  # line and paragraph separators
    "\u034f"  # combining grapheme joiner
    "\u115f\u1160\u3164\uffa0"  # Hangul fillers: blank "names"
    "\u17b4\u17b5"  # Khmer inherent vowels, invisible
    "\u180b\u180c\u180d\u180e\u180f"  # Mongolian selectors and vowel separator
    "\u2800"  # braille blank
)
# Control, format, private-use, surrogate, unassigned and separator categories.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"})


def _visible(ch: str) -> str:
    code = ord(ch)
    if code < 0x20 or code == 0x7F:
        return "^" + chr(code ^ 0x40)  # ESC shows as ^[, BEL as ^G
    if ch in _INVISIBLE or 0x80 <= code < 0xA0:  # C1 controls, e.g. the 8-bit CSI, are here too
        return f"<U+{code:04X}>"
    if ch != "\u00ad" and unicodedata.category(ch) in _HIDDEN_CATEGORIES:
        return f"<U+{code:04X}>"
    return ch


def literal(text: str, keep_newlines: bool = True) -> str:
    """The text with every control and invisible character replaced by a visible stand-in."""
    text = str(text).replace("\r\n", "\n")
    out = []
    for ch in text:
        if ch == "\n" and keep_newlines:
            out.append(ch)
        elif ch == "\t":
            out.append("    ")
        elif ch.isascii() and ch.isprintable():
            out.append(ch)
        else:
            out.append(_visible(ch))
    return "".join(out)


def one_line(text: str, width: int | None = None) -> str:
    """The literal text on one line (newlines and runs of spaces become one space), shortened
    with an ellipsis to `width` terminal cells."""
    flat = str(text).replace("\r\n", " ").replace("\n", " ").replace("\t", " ")
    line = " ".join(part for part in literal(flat, keep_newlines=False).split(" ") if part)
    if width is not None and cell_len(line) > width:
        line = set_cell_size(line, max(width - 1, 0)) + "…" if width > 0 else ""
    return line


def fit(text: str, width: int) -> str:
    """One literal line exactly `width` cells wide: cut with an ellipsis, or padded."""
    return set_cell_size(one_line(text, width), width)


def literal_text(text: str, style: str = "") -> Text:
    """A Rich Text that is never parsed for markup."""
    return Text(literal(text), style=style)
