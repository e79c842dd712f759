import io
import json
from pathlib import Path

from backend.checks.commands import run_bio, run_check, run_explain

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"


def test_check_ok_and_errors(tmp_path):
    out = io.StringIO()
    assert run_check(RULES, out) == 0 and out.getvalue().startswith("ok: ")
    (tmp_path / "tone.yaml").write_text("defensive: [\n", encoding="utf-8")
    out = io.StringIO()
    assert run_check(tmp_path, out) == 1
    lines = out.getvalue().splitlines()
    assert any(
        line.startswith(f"{tmp_path / 'tone.yaml'}:") and "not valid YAML" in line for line in lines
    )
    assert any(
        line.startswith(f"{tmp_path / 'privacy.yaml'}:") and "file not found" in line
        for line in lines
    )


def test_explain_json_lines_with_a_malformed_line():
    inp = io.StringIO(
        "\n".join(
            [
                json.dumps(
                    {
                        "text": "As we already said, no.",
                        "channel": "public",
                        "direction": "outbound",
                    }
                ),
                "{not json",
                json.dumps({"text": "hi", "channel": "fax", "direction": "outbound"}),
                json.dumps(
                    {
                        "text": "my IBAN DE89370400440532013000",
                        "channel": "public",
                        "direction": "inbound",
                    }
                ),
            ]
        )
        + "\n"
    )
    out = io.StringIO()
    assert run_explain(RULES, inp, out) == 1
    results = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["line"] for r in results] == [1, 2, 3, 4]
    assert [f["check"] for f in results[0]["findings"]] == ["defensive"]
    assert "not valid JSON" in results[1]["error"]
    assert "channel" in results[2]["error"]
    assert results[3]["findings"][0]["kind"] == "flag"
    assert results[3]["findings"][0]["detail"]["type"] == "iban"


def test_bio_prints_each_platform():
    out = io.StringIO()
    assert run_bio(RULES, out) == 0
    assert "bluesky (" in out.getvalue() and "mastodon (" in out.getvalue()
