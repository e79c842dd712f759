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


def _with_links(tmp_path: Path, mode: str) -> Path:
    text = (ROOT / "rules" / "listening.yaml").read_text(encoding="utf-8")
    text = text.replace("  links: off\n", f"  links: {mode}\n", 1)
    (tmp_path / "listening.yaml").write_text(text, encoding="utf-8")
    return tmp_path / "listening.yaml"


def test_name_at_the_start_of_a_link_host_matches_when_configured(tmp_path):
    """A post sharing one of our pages ("acmestore.com/…", "www.acme-shop.de") is
    about us; our name in a path or inside another host's label is not."""
    rules = load_listening(_with_links(tmp_path, "prefix"))
    for text in (
        "watch now: https://www.acmestore.com/detail/123 link",
        "see www.acme-shop.de/angebote",
        "via https://web.archive.org/web/2020/https://help.acmepay.example/x",
    ):
        m = match(rules, post(text))
        assert m is not None and m.how == ("name",), text
    for text in (
        "watch now: https://www.example.com/acmestore/123",  # our name in the path only
        "new blog https://notacme.example.org",
        "docs at https://acmestore",  # a bare top-level label is not a host name
    ):
        assert match(rules, post(text)) is None, text


def test_link_hosts_are_off_unless_configured(tmp_path):
    rules = load_listening(ROOT / "rules" / "listening.yaml")
    assert match(rules, post("watch now: https://www.acmestore.com/detail/123")) is None
    exact = load_listening(_with_links(tmp_path, "exact"))
    assert match(exact, post("watch now: https://www.acmestore.com/detail/123")) is None
    assert match(exact, post("watch now: https://shop.acme.example/1")) is not None
