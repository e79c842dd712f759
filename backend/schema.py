"""One way to check the files people edit: a pydantic model per file, errors as file:line: key.

Each hand-edited file (config, rules) is described by a `Schema` model: the
types, defaults and limits of every key, declared once. `validate_document`
checks a parsed file (`yamlfile.Located`) against its model and turns every
problem pydantic finds into a `FileError` that names the file, the line and
the dotted key, in words a care lead understands:

    rules/sla.yaml:4: targets.P1.first_response: expected a duration like 15m, 2h or 1h30m, got 'soon'
    config/team.yaml:2: server.prot: unknown setting (did you mean server.port?)

All problems of a file are reported together. Models are strict: a value must
already have the type YAML gave it (`port: "8470"` is text, `pool_max: yes` is
not a number), except values read from environment variables, which are
always text and are converted first by `from_text`.
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

import annotated_types
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
)
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from backend.i18n import SOURCE_LANGUAGE, available_languages
from backend.yamlfile import FileError, FileErrors, Located, describe

M = TypeVar("M", bound=BaseModel)


class Schema(BaseModel):
    """Base of every model of a hand-edited file.

    Unknown keys are errors (a typo such as `hashtag:` must not silently do
    nothing); values are checked strictly; loaded settings never change.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Problem(ValueError):
    """Raised by a validator: what is wrong, optionally at a key below the value validated.

    `Problem("is used twice", 3, "name")` raised while checking `templates`
    is reported at `templates[3].name`.
    """

    def __init__(self, reason: str, *at: str | int):
        super().__init__(reason)
        self.reason = reason
        self.at = at


def document(info: ValidationInfo) -> Mapping[str, Any]:
    """The whole file being validated, as parsed, for checks that look at other keys
    (e.g. a target counting business hours needs `business_hours` to be set)."""
    context = info.context if isinstance(info.context, dict) else {}
    data = context.get("document")
    return data if isinstance(data, dict) else {}


def beside(info: ValidationInfo, name: str) -> Path:
    """A file named in the file being validated, found in the same folder
    (rules/conduct.yaml names its model as conduct_en_model.npz)."""
    context = info.context if isinstance(info.context, dict) else {}
    return Path(context.get("path") or ".").parent / name


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def _one_line(value: str) -> str:
    text = " ".join(value.split())
    if not text:
        raise ValueError("must not be empty")
    return text


def once_each(key: str) -> AfterValidator:
    """A list's validator: no two items with the same `key`, the second reported
    at its own key (`templates[3].name: 'delay' is used twice`)."""

    def check(items: list[Any]) -> list[Any]:
        seen: set[Any] = set()
        for i, item in enumerate(items):
            value = getattr(item, key)
            if value in seen:
                raise Problem(f"{value!r} is used twice", i, key)
            seen.add(value)
        return items

    return AfterValidator(check)


Text = Annotated[str, AfterValidator(_not_blank)]
"""Text that must say something (a message, a name), kept as written."""

Prose = Annotated[str, AfterValidator(_one_line)]
"""Text whose line breaks are only layout in the YAML: folded to single spaces."""


def _per_language(value: Any) -> Any:
    # A plain text is the English; every other language then shows it too.
    return {SOURCE_LANGUAGE: value} if isinstance(value, str) else value


def _known_languages(texts: dict[str, str]) -> dict[str, str]:
    have = available_languages()
    for language in texts:
        if language not in have:
            raise Problem(
                f"no catalog for language {language!r} (have: {', '.join(have)}); "
                f"start one with: python scripts/i18n.py init {language}",
                language,
            )
    if SOURCE_LANGUAGE not in texts:
        raise Problem(
            f"needs the English text too ({SOURCE_LANGUAGE}:), shown where no other language fits"
        )
    return texts


Said = Annotated[dict[str, Text], BeforeValidator(_per_language), AfterValidator(_known_languages)]
"""What a person is told, per language: a plain text (English) or `{en: ..., de: ...}`; each
language must have a backend catalog (backend/locale), so a typo such as `fr:` or `ed:` is
reported at its own line."""


# ------------------------------------------------------------------------- validating


@cache
def _adapter(schema: Any) -> TypeAdapter[Any]:
    return TypeAdapter(schema)


def validate(
    schema: type[M],
    data: Any,
    place: Callable[[str, str], FileError],
    *,
    document: Any = None,
    path: str | None = None,
) -> M:
    """`data` checked against `schema`; every problem raised together as FileErrors,
    each placed by `place(dotted_key, reason)` (a file line, an environment variable).
    `path` is the file being read, for validators that open files beside it."""
    context = {"document": data if document is None else document, "path": path}
    try:
        return schema.model_validate(data, context=context)
    except ValidationError as exc:
        raise FileErrors([place(key, reason) for key, reason in explain(exc, schema)]) from None


def validate_document(doc: Located, schema: type[M], key: str = "") -> M:
    """A parsed file (or the part of it under `key`) checked against `schema`;
    raises FileErrors naming file:line: key for every problem, in file order."""
    data = doc.data
    for part in key.split(".") if key else ():
        data = data.get(part) if isinstance(data, dict) else None
    prefix = f"{key}." if key else ""
    try:
        return validate(
            schema,
            data,
            lambda k, reason: doc.error(prefix + k if k else key, reason),
            document=doc.data,
            path=doc.path,
        )
    except FileErrors as exc:
        exc.errors.sort(key=lambda e: e.line or 0)
        raise FileErrors(exc.errors) from None


def from_text(annotation: Any, raw: str) -> Any:
    """An environment variable's text as a value of `annotation` ("8470" -> 8470,
    "yes" -> True); raises ValueError with the reason in words."""
    try:
        return _adapter(annotation).validate_python(raw)  # lax: text is all a variable holds
    except ValidationError as exc:
        raise ValueError("; ".join(reason for _, reason in explain(exc, annotation))) from None


# ------------------------------------------------------------------------- explaining


def explain(exc: ValidationError, schema: Any) -> list[tuple[str, str]]:
    """Every pydantic error as (dotted key, reason in words)."""
    out = []
    for err in exc.errors():
        loc = [part for part in err["loc"] if part != "[key]"]  # a bad key is reported at itself
        error = (err.get("ctx") or {}).get("error")
        if isinstance(error, Problem):
            loc += error.at
        out.append((dotted(loc), _reason(err, schema, loc)))
    return out


def dotted(loc: Sequence[str | int]) -> str:
    """('targets', 'P1', 'clock') -> 'targets.P1.clock'; list positions as holidays[0]."""
    key = ""
    for part in loc:
        if isinstance(part, int):
            key += f"[{part}]"
        else:
            key += f".{part}" if key else str(part)
    return key


_EXPECTED = {
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "text",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
    "tuple_type": "a list",
    "date_type": "a date like 2026-12-25",
    "date_parsing": "a date like 2026-12-25",
    "date_from_datetime_parsing": "a date like 2026-12-25",
}


def _reason(err: ErrorDetails, schema: Any, loc: Sequence[str | int]) -> str:
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {describe(value)}"
    if kind == "missing":
        field = _field_at(schema, loc)
        hint = f" ({field.description})" if field is not None and field.description else ""
        return f"missing{hint}"
    if kind == "extra_forbidden":
        return "unknown setting" + _suggestion(schema, loc)
    if kind == "literal_error":
        return f"expected {ctx.get('expected', '').replace(chr(39), '')}, got {describe(value)}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return f"must be {_bounds(_field_at(schema, loc), ctx)}, got {describe(value)}"
    if kind in ("too_short", "string_too_short") and ctx.get("min_length") == 1:
        return "must not be empty"
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        error = ctx["error"]
        return error.reason if isinstance(error, Problem) else str(error)
    # Anything else: pydantic's own words ("Input should be ..."), lower-cased to read on.
    msg = err["msg"]
    return msg[:1].lower() + msg[1:]


def _bounds(field: FieldInfo | None, ctx: Mapping[str, Any]) -> str:
    """'between 0 and 1', 'at least 10', 'more than 0', from the field's declared limits."""
    limits: dict[str, Any] = {k: ctx[k] for k in ("gt", "ge", "lt", "le") if k in ctx}
    metadata = list(field.metadata) if field is not None else []
    if field is not None and get_origin(field.annotation) in (Union, types.UnionType):
        # `Threshold | None`: the limits sit on the Annotated inside the Optional.
        for arg in get_args(field.annotation):
            inner = _item(arg)
            metadata += inner.metadata if inner is not None else []
    for meta in metadata:
        for name in ("gt", "ge", "lt", "le"):
            if isinstance(meta, getattr(annotated_types, name.capitalize())):
                limits.setdefault(name, getattr(meta, name))
    shown = {k: _number(limits[k]) for k in ("gt", "ge", "lt", "le") if k in limits}
    if "ge" in shown and "le" in shown:
        return f"between {shown['ge']} and {shown['le']}"
    if "gt" in shown and "lt" in shown:
        return f"between {shown['gt']} and {shown['lt']} (exclusive)"
    words = {"gt": "more than", "ge": "at least", "lt": "less than", "le": "at most"}
    return " and ".join(f"{words[k]} {v}" for k, v in shown.items())


def _number(value: Any) -> str:
    """1.0 -> '1': a limit reads as the person would write it."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _suggestion(schema: Any, loc: Sequence[str | int]) -> str:
    """' (did you mean server.port?)': the closest known key, beside it first, then anywhere."""
    key, parent = dotted(loc), dotted(loc[:-1])
    siblings = [
        f"{parent}.{name}" if parent else name for name in _names(_type_at(schema, loc[:-1]))
    ]
    name = key.rpartition(".")[2]
    elsewhere = [k for k in _all_keys(schema) if k.rpartition(".")[2] == name]  # in another section
    close = difflib.get_close_matches(key, siblings, n=1) or elsewhere[:1]
    if close:
        return f" (did you mean {close[0]}?)"
    if siblings and len(siblings) <= 8:
        return f" (known: {', '.join(s.rpartition('.')[2] for s in siblings)})"
    return ""


def _strip(tp: Any) -> Any:
    """The type inside Annotated[...] and Optional[...]."""
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            rest = [a for a in get_args(tp) if a is not type(None)]
            if len(rest) != 1:
                return tp
            tp = rest[0]
        else:
            return tp


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _step(tp: Any, part: str | int) -> tuple[Any, FieldInfo | None]:
    tp = _strip(tp)
    if _is_model(tp):
        field = tp.model_fields.get(part) if isinstance(part, str) else None
        return (field.annotation, field) if field is not None else (None, None)
    origin, args = get_origin(tp), get_args(tp)
    if origin in (dict, Mapping) and len(args) == 2:
        return args[1], _item(args[1])
    if origin in (list, tuple, Sequence) and args:
        return args[0], _item(args[0])
    return None, None


def _item(tp: Any) -> FieldInfo | None:
    """The limits declared on a list item or mapping value (`Annotated[float, Field(ge=-4, le=4)]`),
    so its errors read 'between -4 and 4' like a field's."""
    return FieldInfo.from_annotation(tp) if get_origin(tp) is Annotated else None


def _type_at(schema: Any, loc: Sequence[str | int]) -> Any:
    tp = schema
    for part in loc:
        tp, _ = _step(tp, part)
    return tp


def _field_at(schema: Any, loc: Sequence[str | int]) -> FieldInfo | None:
    tp, field = schema, None
    for part in loc:
        tp, field = _step(tp, part)
    return field


def _names(tp: Any) -> list[str]:
    tp = _strip(tp)
    return list(tp.model_fields) if _is_model(tp) else []


def _all_keys(schema: Any, prefix: str = "") -> list[str]:
    out = []
    for name in _names(schema):
        key = f"{prefix}.{name}" if prefix else name
        out.append(key)
        out += _all_keys(_strip(_type_at(schema, [name])), key)
    return out
