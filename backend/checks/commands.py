"""`shiftdesk rules check|explain|bio`: thin I/O around the checks."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from backend.listening.language import detect_text
from backend.yamlfile import FileErrors

from . import bio_for, check_inbound, check_outbound, load_rules
from .rules import RULE_FILES, CheckRules


def _load(rules_dir: Path, out: TextIO) -> CheckRules | None:
    try:
        return load_rules(rules_dir)
    except FileErrors as exc:
        for error in exc.errors:
            print(error, file=out)
        return None


def run_check(rules_dir: Path, out: TextIO) -> int:
    """Validate every rules file; print each error as file:line: key: reason.
    Returns 0 when all are valid, 1 otherwise."""
    rules_dir = Path(rules_dir)
    rules = _load(rules_dir, out)
    if rules is None:
        return 1
    print(f"ok: {', '.join(str(rules_dir / n) for n in RULE_FILES)}", file=out)
    return 0


def run_explain(rules_dir: Path, inp: TextIO, out: TextIO, saved: Sequence[str] = ()) -> int:
    """Read JSON lines and write one JSON line of findings per input line,
    checked the way ingest (inbound) and the composer (outbound) check them.

    Input: {"text", "channel", "direction", optional "language",
    "customer_name", "customer_handle", "customer_upset", "customer_text", "recent_replies",
    "templates", "earlier_replies"}. Without "language", it is detected as
    ingest detects it (from "customer_text" for a reply when given, else
    from the text); the output says which language was used and how.
    `saved` (the team's saved replies, rules/templates.yaml) are the
    templates unless the line brings its own. A malformed line gets {"line": n, "error": ...}
    and the rest is still processed. Returns 1 if the rules are invalid or
    any line was malformed, else 0."""
    rules = _load(Path(rules_dir), out)
    if rules is None:
        return 1
    status = 0
    for number, raw in enumerate(inp, 1):
        if not raw.strip():
            continue
        try:
            result = _explain_one(rules, raw, saved)
        except ValueError as exc:
            status = 1
            result = {"line": number, "error": str(exc)}
        else:
            result = {"line": number, **result}
        print(json.dumps(result, ensure_ascii=False), file=out)
    return status


def _texts(item: dict, key: str) -> list[str] | None:
    value = item.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f'"{key}" must be a list of strings')
    return value


def _explain_one(rules: CheckRules, raw: str, saved: Sequence[str] = ()) -> dict:
    try:
        item = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(item, dict):
        raise ValueError("expected a JSON object")
    text = item.get("text")
    if not isinstance(text, str):
        raise ValueError('"text" must be a string')
    channel = item.get("channel", "public")
    if channel not in ("public", "dm"):
        raise ValueError(f'"channel" must be "public" or "dm", got {channel!r}')
    direction = item.get("direction", "outbound")
    if direction not in ("inbound", "outbound"):
        raise ValueError(f'"direction" must be "inbound" or "outbound", got {direction!r}')
    language = item.get("language")
    if language is not None and not isinstance(language, str):
        raise ValueError('"language" must be a string or null')
    customer_text = item.get("customer_text")
    if customer_text is not None and not isinstance(customer_text, str):
        raise ValueError('"customer_text" must be a string')
    recent = _texts(item, "recent_replies")
    templates = _texts(item, "templates")
    earlier = _texts(item, "earlier_replies")
    how = "given"
    if "language" not in item:
        # As ingest: detected from the customer's post (a reply is checked in
        # the conversation's language), None when unsure.
        language = detect_text(customer_text if customer_text else text)
        how = "detected" if language else "unsure: all lists"
    if direction == "outbound":
        findings = check_outbound(
            rules,
            text,
            channel=channel,
            language=language,
            customer_name=item.get("customer_name") or None,
            customer_handle=item.get("customer_handle") or None,
            customer_text=customer_text,  # as the composer: their post decides "upset"
            customer_upset=bool(item.get("customer_upset", False)),
            recent_replies=recent or [],
            templates=templates if templates is not None else list(saved),
            earlier_replies=earlier or [],
        )
    else:
        findings = check_inbound(rules, text, channel=channel, language=language)
    return {
        "language": language,
        "language_from": how,
        "findings": [f.to_dict() for f in findings],
    }


def run_bio(rules_dir: Path, out: TextIO) -> int:
    """Print the house-rules bio fitted to each platform's bio length."""
    rules = _load(Path(rules_dir), out)
    if rules is None:
        return 1
    for platform, limit in sorted(rules.conduct.bio_lengths.items()):
        text = bio_for(rules, platform)
        print(f"{platform} ({len(text)}/{limit}):\n{text}\n", file=out)
    return 0
