"""Issue 15: our name after @ or # counts, as configured per brand."""

from pathlib import Path

from backend.listening import match
from backend.listening.rules import load_listening
from tests.listening_helpers import post

ROOT = Path(__file__).resolve().parent.parent


def test_name_after_at_and_hash_matches():
    rules = load_listening(ROOT / "rules" / "listening.yaml")
    m = match(rules, post("@Acme where is my parcel", platform="bluesky"))
    assert m is not None and "name" in m.how and "@acme" in m.terms
    m = match(rules, post("again #AcmeDisaster", platform="bluesky"))
    assert m is not None and "hashtag" in m.how


def test_name_tags_can_be_switched_off(tmp_path):
    text = (ROOT / "rules" / "listening.yaml").read_text(encoding="utf-8")
    text = text.replace("  handles: exact\n  hashtags: prefix", "  handles: off\n  hashtags: off")
    (tmp_path / "listening.yaml").write_text(text, encoding="utf-8")
    rules = load_listening(tmp_path / "listening.yaml")
    assert match(rules, post("@Acme where is my parcel", platform="bluesky")) is None
    assert match(rules, post("again #AcmeDisaster", platform="bluesky")) is None
