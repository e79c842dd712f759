"""How long the crisis screen's grouping takes: near-copies of complaints grouped, per post.

    .venv/bin/python bench/crisis_groups.py [--sizes 1000,5000,20000] [--seed 7]

A pile-on is a few complaints copied with small edits among unrelated chatter.
The baseline, measured in the same run on the same posts, is `top_themes`
(counting words and phrases, which grouping also does once): grouping should
cost a small multiple of it, not grow with the square of the posts.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backend.listening.themes import Complaint, group_complaints, top_themes  # noqa: E402

COMPLAINTS = [
    "app crashed checkout lost basket payment taken twice card charged",
    "parcel never arrived tracking stuck warehouse weeks refund ignored",
    "login broken password reset email never comes account locked",
]
CHATTER = (
    "great weather coffee train concert football weekend music garden holiday cat dog pizza "
    "movie beach mountain bike book guitar rain snow sunset friends party dinner lunch tea "
    "museum river lake forest city village bakery market festival game podcast series"
).split()


def crisis_posts(n: int, seed: int) -> list[Complaint]:
    rng = random.Random(seed)
    posts = []
    for i in range(n):
        kind = rng.randrange(4)
        if kind < 3:
            words = COMPLAINTS[kind].split()
            words[rng.randrange(len(words))] = rng.choice(["seriously", "ugh", "again", "today"])
            text = "@acme " + " ".join(words) + rng.choice(["", "!!", " #acmefail"])
        else:
            text = " ".join(rng.sample(CHATTER, 5)) + f" {rng.randrange(10**6)}"
        posts.append(Complaint(i, text))
    return posts


def timed(body, *args, **kw) -> float:
    start = time.perf_counter()
    body(*args, **kw)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,5000,20000")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(f"{'posts':>8}  {'top_themes (baseline)':>22}  {'group_complaints':>17}  {'per post':>9}")
    for n in (int(s) for s in args.sizes.split(",")):
        posts = crisis_posts(n, args.seed)
        texts = [p.text for p in posts]
        base = timed(top_themes, texts, limit=50, ignore=["acmefail"])
        grouped = timed(group_complaints, posts, ignore=["acmefail"])
        print(
            f"{n:>8}  {base * 1000:>19.0f} ms  {grouped * 1000:>14.0f} ms  {grouped / n * 1e6:>6.0f} µs"
        )


if __name__ == "__main__":
    main()
