"""Load YAML files that people edit, and say exactly where they are wrong.

Config (`config/*.yaml`) and rules (`rules/*.yaml`) are edited by hand, often
in a hurry. Every problem is reported as `file:line: key: what is wrong`,
never as a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class FileError(Exception):
    """A problem in a hand-edited file, with the place it was found."""

    def __init__(self, path: str | Path, key: str, reason: str, line: int | None = None):
        self.path = str(path)
        self.key = key
        self.reason = reason
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        key = f" {self.key}:" if self.key else ""
        return f"{where}:{key} {self.reason}"


class FileErrors(Exception):
    """Several problems found in one pass, so they can be fixed in one go."""

    def __init__(self, errors: list[FileError]):
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


@dataclass
class Located:
    """A parsed YAML document plus the line of every key, by dotted path."""

    path: str
    data: Any
    lines: dict[str, int] = field(default_factory=dict)

    def line(self, key: str) -> int | None:
        # Fall back to the nearest parent that has a line.
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key.rpartition(".")[0]
        return None

    def error(self, key: str, reason: str) -> FileError:
        return FileError(self.path, key, reason, self.line(key))


def _to_python(node: yaml.Node, prefix: str, lines: dict[str, int], path: str) -> Any:
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = str(_construct_scalar(key_node, path, prefix))
            dotted = f"{prefix}.{key}" if prefix else key
            if key in out:
                raise FileError(path, dotted, "appears twice", key_node.start_mark.line + 1)
            lines[dotted] = key_node.start_mark.line + 1
            out[key] = _to_python(value_node, dotted, lines, path)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            dotted = f"{prefix}[{i}]"
            lines[dotted] = item.start_mark.line + 1
            items.append(_to_python(item, dotted, lines, path))
        return items
    # Scalars: let the safe constructor resolve ints, bools, nulls, dates.
    return _construct_scalar(node, path, prefix)


def _construct_scalar(node: yaml.Node, path: str = "<string>", key: str = "") -> Any:
    # A bare constructor: a whole SafeLoader per scalar (reader, scanner, parser) cost
    # most of the time of reading a rules file.
    try:
        return yaml.constructor.SafeConstructor().construct_object(node, deep=True)
    except (ValueError, yaml.YAMLError) as exc:
        # e.g. a date that does not exist (2026-02-30)
        raise FileError(
            path, key, f"{node.value!r} is not valid: {exc}", node.start_mark.line + 1
        ) from None


_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse(text: str, path: str | Path = "<string>") -> Located:
    """Parse YAML text into plain Python data with a line for every key."""
    path = str(path)
    try:
        try:  # libyaml's parser when present: several times faster, same nodes and marks
            node = yaml.compose(text, Loader=_FAST_LOADER)
        except yaml.YAMLError:  # the pure parser's wording for the error, as documented
            node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        reason = (exc.problem or exc.context or "is not valid YAML").strip()
        raise FileError(path, "", f"not valid YAML: {reason}", line) from None
    except yaml.YAMLError as exc:
        raise FileError(path, "", f"not valid YAML: {exc}") from None
    lines: dict[str, int] = {}
    data = _to_python(node, "", lines, path) if node is not None else None
    return Located(path, data, lines)


def load(path: str | Path) -> Located:
    """Read and parse a YAML file; a missing or unreadable file is a FileError."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileError(p, "", "file not found") from None
    except UnicodeDecodeError as exc:
        raise FileError(p, "", f"not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise FileError(p, "", f"cannot be read: {exc.strerror}") from None
    return parse(text, p)


_TYPE_NAMES = {
    str: "text",
    int: "a whole number",
    float: "a number",
    bool: "true or false",
    list: "a list",
    dict: "a mapping",
}


def describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (dict, list)):
        return _TYPE_NAMES[type(value)]
    return repr(value)


def expect(doc: Located, key: str, value: Any, kind: type | tuple[type, ...]) -> Any:
    """Check one value's type; numbers accept ints, bools are never numbers."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
    if float in kinds and isinstance(value, int) and not isinstance(value, bool):
        ok = True
    if not ok:
        wanted = " or ".join(_TYPE_NAMES.get(k, k.__name__) for k in kinds)
        raise doc.error(key, f"expected {wanted}, got {describe(value)}")
    return value


def walk(data: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every leaf of nested mappings, as (dotted key, value)."""
    if isinstance(data, dict):
        for k, v in data.items():
            yield from walk(v, f"{prefix}.{k}" if prefix else k)
    else:
        yield prefix, data


class Problems:
    """Collects the errors of several loads, so one pass reports every broken file."""

    def __init__(self) -> None:
        self.errors: list[FileError] = []

    def attempt(self, load: Any, *args: Any) -> Any:
        """`load(*args)`, or None with its errors kept."""
        try:
            return load(*args)
        except FileErrors as exc:
            self.errors.extend(exc.errors)
        except FileError as exc:
            self.errors.append(exc)
        return None

    def raise_any(self) -> None:
        if self.errors:
            raise FileErrors(self.errors)
