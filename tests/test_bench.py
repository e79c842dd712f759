"""Every benchmark in bench/ runs in a small mode and prints its table, so none rots.

These are not timings (speed is measured by running bench/ by hand on a quiet
machine); they check each script still runs end to end against today's code
and says what it measured. `pytest -m bench` runs just these.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.bench

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"

# script, small-mode arguments, lines the table must contain
SMALL = {
    "ingest": (["--n", "3000"], ["end to end/s", "raw COPY/s"]),
    "ingest --serial": (["--n", "2000", "--serial"], ["end to end/s"]),
    "claims": (
        ["--operators", "4", "--conversations", "200", "--rounds", "3"],
        ["claim-next", "GET /api/me"],
    ),
    "fanout": (["--clients", "4", "--mentions", "20", "--rate", "40"], ["p99", "LISTEN/NOTIFY"]),
    "listening": (["--posts", "2000"], ["posts/s"]),
    "crisis_groups": (["--sizes", "300,1000"], ["top_themes (baseline)", "group_complaints"]),
    "outbox": (["--replies", "200", "--latency-ms", "1"], ["floor: bare POSTs", "window of"]),
    "tui": (["--conversations", "2000", "--presses", "20"], ["first paint", "keypress", "G:"]),
    "tui --ingest": (
        ["--conversations", "2000", "--presses", "20", "--ingest", "200", "--ingest-seconds", "8"],
        ["while ingesting 200/s", "feed rate achieved"],
    ),
    "api_latency": (
        ["--sizes", "1000,2000", "--repeat", "3"],
        ["GET /api/me (floor)", "GET /api/summary", "before=end", "GET /metrics"],
    ),
    "rules_quality": ([], ["precision", "recall"]),
    "rules_load": (["--repeat", "2"], ["conduct.yaml", "whole rulebook"]),
    "ssh": (
        ["--sessions", "2", "--presses", "5", "--conversations", "100"],
        ["plain shiftdesk tui on a pty", "over SSH", "sessions held at once: 2", "RSS each"],
    ),
    "web": (
        ["--conversations", "500", "--sessions", "1"],
        ["plain tui: first paint", "WebSocket only", "web: first paint", "memory per session"],
    ),
    "latency": (
        ["--quick"],
        ["LISTEN/NOTIFY", "signed webhook", "Mastodon stream", "polling every"],
    ),
    "idle_streams": (
        ["--idle", "60", "--operators", "12", "--connects", "10", "--quiet-s", "2"],
        ["before (no idle streams)", "during 60 idle streams", "idle backend CPU"],
    ),
    "stalled_webhooks": (
        ["--stalled", "80", "--requests", "30", "--body-kb", "128", "--sent-kb", "16"],
        ["baseline (no stall)", "during 80 stalls", "RSS growth"],
    ),
}


def run_bench(name: str, args: list[str], pg_admin_url: str) -> str:
    script = ROOT / "bench" / f"{name.split()[0]}.py"
    env = {**os.environ, "SHIFTDESK_TEST_DATABASE_URL": pg_admin_url}
    done = subprocess.run(
        [sys.executable, str(script), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"{name} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.parametrize("name", sorted(SMALL))
def test_bench_runs_small_and_prints_its_table(name, pg_admin_url):
    args, expected = SMALL[name]
    out = run_bench(name, args, pg_admin_url)
    missing = [line for line in expected if line.lower() not in out.lower()]
    assert not missing, f"{name} printed no {missing}:\n{out}"
