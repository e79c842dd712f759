"""Reading a connector's section of config/shiftdesk.yaml, with file:line: key errors."""

from __future__ import annotations

from typing import Any

from backend import yamlfile
from backend.yamlfile import FileError, FileErrors, Located

_REQUIRED = object()


class Section:
    """One mapping in a config file, read key by key; unknown keys are errors
    (a typo such as `hashtag:` must not silently disable listening)."""

    def __init__(self, doc: Located, key: str):
        data: Any = doc.data
        for part in key.split("."):
            if not isinstance(data, dict) or part not in data:
                raise doc.error(key, "missing")
            data = data[part]
        if not isinstance(data, dict):
            raise doc.error(key, f"expected a mapping, got {yamlfile.describe(data)}")
        self.doc, self.key, self.data = doc, key, data
        self.errors: list[FileError] = []
        self._seen: set[str] = set()

    def get(self, name: str, kind: type, default: Any = _REQUIRED) -> Any:
        """One value of the given type; collects the error and returns the default."""
        self._seen.add(name)
        dotted = f"{self.key}.{name}"
        if name not in self.data:
            if default is _REQUIRED:
                self.errors.append(self.doc.error(dotted, "missing"))
            return None if default is _REQUIRED else default
        try:
            return yamlfile.expect(self.doc, dotted, self.data[name], kind)
        except FileError as exc:
            self.errors.append(exc)
            return None if default is _REQUIRED else default

    def texts(self, name: str) -> tuple[str, ...]:
        """A list of non-empty texts (hashtags, search terms); absent means none."""
        items = self.get(name, list, [])
        out = []
        for i, item in enumerate(items):
            if not isinstance(item, str) or not item.strip():
                self.errors.append(
                    self.doc.error(
                        f"{self.key}.{name}[{i}]", f"expected text, got {yamlfile.describe(item)}"
                    )
                )
            else:
                out.append(item.strip())
        return tuple(out)

    def check(self, condition: bool, name: str, reason: str) -> None:
        if not condition:
            self.errors.append(self.doc.error(f"{self.key}.{name}", reason))

    def done(self) -> None:
        """Raise every problem found, unknown keys included."""
        for name in self.data:
            if name not in self._seen:
                self.errors.append(self.doc.error(f"{self.key}.{name}", "unknown setting"))
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise FileErrors(self.errors)
