"""The `shiftdesk` command: help, config errors without tracebacks, rules, operators."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes import run_cli as shiftdesk

ROOT = Path(__file__).resolve().parent.parent


def test_help_names_every_command(capsys):
    out = shiftdesk("--help", process=True)  # the installed entry point, once
    assert out.returncode == 0
    for command in ("serve", "tui", "demo", "ssh", "db", "operators", "rules"):
        assert command in out.stdout
    from backend.cli import main

    # Each command's own help, in this process: the same parser, without a start-up each.
    for sub in (
        ["serve"],
        ["tui"],
        ["demo"],
        ["db", "migrate"],
        ["operators", "add"],
        ["operators", "list"],
        ["operators", "revoke"],
        ["operators", "reissue"],
        ["operators", "add-key"],
        ["operators", "remove-key"],
        ["operators", "keys"],
        ["ssh"],
        ["rules", "check"],
        ["rules", "explain"],
        ["rules", "bio"],
    ):
        with pytest.raises(SystemExit) as done:
            main([*sub, "--help"])
        text = capsys.readouterr().out
        assert done.value.code == 0 and "usage: shiftdesk" in text, sub
        assert len(text.splitlines()) > 3


def test_broken_config_stops_with_file_line_and_key_not_a_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("server:\n  prot: 8080\ndatabase:\n  pool_max: lots\n")
    out = shiftdesk("--config", str(bad), "db", "migrate")
    assert out.returncode == 2
    assert f"{bad}:2: server.prot: unknown setting (did you mean server.port?)" in out.stderr
    assert f"{bad}:4: database.pool_max: expected a whole number, got 'lots'" in out.stderr
    assert "Traceback" not in out.stderr


def test_bad_environment_override_is_named():
    out = shiftdesk("db", "migrate", env={"SHIFTDESK_SERVER_PORT": "eighty"})
    assert out.returncode == 2
    assert "SHIFTDESK_SERVER_PORT: expected a whole number, got 'eighty'" in out.stderr
    assert "Traceback" not in out.stderr


def test_rules_check_reports_every_broken_file_with_line(tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    (rules / "sla.yaml").write_text(
        (rules / "sla.yaml").read_text().replace("time_zone:", "time_zone: Mars/Olympus\n#", 1)
    )
    text = (rules / "listening.yaml").read_text()
    (rules / "listening.yaml").write_text(text + "\nunexpected_key: 1\n")
    out = shiftdesk("rules", "--rules-dir", str(rules), "check")
    assert out.returncode == 1
    lines = out.stdout.splitlines()
    assert any(
        l.startswith(f"{rules / 'listening.yaml'}:") and "unexpected_key" in l for l in lines
    ), out.stdout
    assert any(l.startswith(f"{rules / 'sla.yaml'}:") and "Mars/Olympus" in l for l in lines), (
        out.stdout
    )
    assert "Traceback" not in out.stderr


def test_rules_check_reports_sla_and_template_mistakes_at_their_line_and_key(tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    sla = (rules / "sla.yaml").read_text().replace("first_response: 15m", "first_response: soon", 1)
    (rules / "sla.yaml").write_text(sla)
    saved = (rules / "templates.yaml").read_text().replace("language: de", "language: fr", 1)
    (rules / "templates.yaml").write_text(saved.replace("  - name: refund", "  - nme: refund"))
    out = shiftdesk("rules", "--rules-dir", str(rules), "check")
    assert out.returncode == 1
    lines = out.stdout.splitlines()
    sla_line = sla.splitlines().index("    first_response: soon") + 1
    assert (
        f"{rules / 'sla.yaml'}:{sla_line}: targets.P1.first_response: "
        "expected a duration like 15m, 2h or 1h30m, got 'soon'" in lines
    )
    assert any(
        l.startswith(f"{rules / 'templates.yaml'}:")
        and "templates[2].nme: unknown setting (did you mean templates[2].name?)" in l
        for l in lines
    ), out.stdout
    assert any(
        l.startswith(f"{rules / 'templates.yaml'}:")
        and "language: expected en or de, got 'fr'" in l
        for l in lines
    ), out.stdout


def test_rules_check_reports_every_mistake_of_each_file_together(tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    tone = (rules / "tone.yaml").read_text()
    tone = tone.replace("    - not our department", "    - not our (department")
    (rules / "tone.yaml").write_text(tone.replace("  upper_share: 0.6", "  upper_share: 6"))
    triage = (rules / "triage.yaml").read_text().replace("  P2: 4", "  P2: four")
    (rules / "triage.yaml").write_text(triage.replace("mentioned:", "mentions:"))
    out = shiftdesk("rules", "--rules-dir", str(rules), "check")
    assert out.returncode == 1
    keys = {
        (Path(line.split(":")[0]).name, line.split(": ")[1]) for line in out.stdout.splitlines()
    }
    assert {
        ("tone.yaml", "negative.en[8]"),
        ("tone.yaml", "shouting.upper_share"),
        ("triage.yaml", "priorities.P2"),
        ("triage.yaml", "mentions"),
    } <= keys, out.stdout


def test_rules_check_passes_on_the_shipped_rules():
    out = shiftdesk("rules", "check")
    assert out.returncode == 0 and out.stdout.startswith("ok:")


def test_rules_explain_answers_each_line_and_survives_a_bad_one():
    lines = [
        {
            "text": "@acme DE89 3704 0044 0532 0130 00 is my IBAN",
            "channel": "public",
            "direction": "inbound",
        },
        "this is not json",
        {
            "text": "As we already said, that's not our fault.",
            "channel": "public",
            "direction": "outbound",
        },
    ]
    stdin = "\n".join(l if isinstance(l, str) else json.dumps(l) for l in lines) + "\n"
    out = shiftdesk("rules", "explain", stdin=stdin)
    answers = [json.loads(l) for l in out.stdout.splitlines()]
    assert [a["line"] for a in answers] == [1, 2, 3]
    assert answers[0]["findings"][0]["check"] == "personal_data"
    assert "error" in answers[1]
    assert "defensive" in {f["check"] for f in answers[2]["findings"]}


def test_rules_explain_compares_replies_with_the_saved_templates():
    from backend.rulebook import load_templates

    template = load_templates(ROOT / "rules" / "templates.yaml")[0].text
    reply = {"text": template.replace("{name}", "Jo"), "channel": "public"}
    out = shiftdesk("rules", "explain", stdin=json.dumps(reply) + "\n")
    [answer] = [json.loads(l) for l in out.stdout.splitlines()]
    canned = [f for f in answer["findings"] if f["check"] == "canned"]
    assert canned and canned[0]["detail"]["source"] == "template"


def test_operators_add_list_revoke(db_url):
    env = {"SHIFTDESK_DATABASE_URL": db_url}
    added = shiftdesk(
        "operators", "add", "anna", "--display-name", "Anna K.", "--role", "lead", env=env
    )
    assert added.returncode == 0, added.stderr
    token = next(l.split()[-1] for l in added.stdout.splitlines() if l.startswith("token:"))
    assert token.startswith("sd_")
    again = shiftdesk("operators", "add", "anna", env=env)
    assert again.returncode == 2 and "already exists" in again.stderr
    listed = shiftdesk("operators", "list", env=env)
    assert "anna" in listed.stdout and "lead" in listed.stdout and "active" in listed.stdout
    assert token not in listed.stdout
    assert shiftdesk("operators", "revoke", "anna", env=env).returncode == 0
    assert "revoked" in shiftdesk("operators", "list", env=env).stdout


def test_operators_add_key_list_and_remove_key(db_url, tmp_path):
    import asyncssh

    env = {"SHIFTDESK_DATABASE_URL": db_url}
    for name in ("anna", "ben"):
        assert shiftdesk("operators", "add", name, env=env).returncode == 0
    key = asyncssh.generate_private_key("ssh-ed25519", comment="anna@laptop")
    pub = tmp_path / "id_ed25519.pub"
    pub.write_bytes(key.export_public_key())
    fingerprint = key.get_fingerprint("sha256")
    added = shiftdesk("operators", "add-key", "anna", str(pub), env=env)
    assert added.returncode == 0, added.stderr
    assert fingerprint in added.stdout
    # One person's key: not a second operator's too.
    taken = shiftdesk("operators", "add-key", "ben", str(pub), env=env)
    assert taken.returncode == 2 and "already belongs to operator 'anna'" in taken.stderr
    secret = tmp_path / "id_ed25519"
    secret.write_bytes(key.export_private_key())
    wrong = shiftdesk("operators", "add-key", "ben", str(secret), env=env)
    assert wrong.returncode == 2 and f"{secret}: this is a PRIVATE key" in wrong.stderr
    missing = shiftdesk("operators", "add-key", "ben", str(tmp_path / "nope.pub"), env=env)
    assert missing.returncode == 2 and "nope.pub" in missing.stderr
    listed = shiftdesk("operators", "keys", "anna", env=env).stdout
    assert fingerprint in listed and "anna@laptop" in listed
    assert "1 key" in shiftdesk("operators", "list", env=env).stdout
    removed = shiftdesk("operators", "remove-key", "anna", fingerprint, env=env)
    assert removed.returncode == 0, removed.stderr
    assert "no SSH keys" in shiftdesk("operators", "keys", "anna", env=env).stdout
    again = shiftdesk("operators", "remove-key", "anna", fingerprint, env=env)
    assert again.returncode == 2 and "has no key" in again.stderr


def test_a_console_thread_that_will_not_stop_does_not_keep_the_process_alive():
    # Stands in for Textual's input thread spinning on a terminal that has gone away.
    code = (
        "import threading\n"
        "from backend.cli import leave\n"
        "threading.Thread(target=lambda: [None for _ in iter(int, 1)], daemon=False).start()\n"
        "raise SystemExit(leave(3, grace=0.2))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, timeout=30)
    assert done.returncode == 3


def test_serve_on_a_taken_port_names_the_setting_to_change(db_url):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = shiftdesk(
            "serve",
            process=True,
            env={
                "SHIFTDESK_DATABASE_URL": db_url,
                "SHIFTDESK_SERVER_HOST": "127.0.0.1",
                "SHIFTDESK_SERVER_PORT": str(port),
            },
        )
    assert out.returncode == 2, out.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in out.stderr
    assert "SHIFTDESK_SERVER_PORT" in out.stderr and "Traceback" not in out.stderr
