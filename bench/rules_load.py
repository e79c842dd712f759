"""How long loading the rules takes: what the backend does at start-up and on every reload.

    .venv/bin/python bench/rules_load.py [--repeat 20]

For each rules file: reading and parsing the YAML, then checking it against
its schema and compiling it (patterns, term sets, lexicons, models), the
first time in this process and the best of --repeat runs after; then the
whole rulebook. CPU time (process_time), so a busy machine blurs it less. The
first run is the one start-up pays; a reload pays the later ones (Python's
regex cache keeps unchanged patterns), plus the lines that changed.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backend import yamlfile  # noqa: E402
from backend.checks.rules import FROM_DOCUMENT  # noqa: E402
from backend.listening.rules import listening_from_doc, triage_from_doc  # noqa: E402
from backend.rulebook import load_rulebook  # noqa: E402

COMPILE: dict[str, Callable[[yamlfile.Located], Any]] = {
    "listening.yaml": listening_from_doc,
    "triage.yaml": triage_from_doc,
    **FROM_DOCUMENT,
}


def cpu_ms(fn: Callable[..., Any], *args: Any) -> float:
    start = time.process_time()
    fn(*args)
    return (time.process_time() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--rules-dir", type=Path, default=ROOT / "rules")
    args = parser.parse_args()
    print(f"{'file':16} {'parse ms':>9} {'check+compile first':>20} {'then best ms':>13}")
    for name, compile_doc in COMPILE.items():
        path = args.rules_dir / name
        parse = min(cpu_ms(yamlfile.load, path) for _ in range(args.repeat))
        doc = yamlfile.load(path)
        first = cpu_ms(compile_doc, doc)
        best = min(cpu_ms(compile_doc, doc) for _ in range(args.repeat))
        print(f"{name:16} {parse:9.2f} {first:20.2f} {best:13.2f}")
    whole = min(cpu_ms(load_rulebook, args.rules_dir) for _ in range(max(3, args.repeat // 4)))
    print(f"{'whole rulebook':16} {'':9} {'':20} {whole:13.2f}")


if __name__ == "__main__":
    main()
