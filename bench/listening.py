"""How long listening takes per mention: match, enrich (language, sentiment, triage), total.

    .venv/bin/python bench/listening.py [--posts 50000] [--seed 7]

Posts are generated from English and German templates with a seeded random
generator: tags, hashtags, plain names, DMs, our own replies, excluded bots,
accents and full-width letters, and some posts that are not about us at all.
Ingest needs 10,000 mentions/s end to end on 2 cores, so this part should
stay well under 50 µs a mention.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backend.listening import Listener, load_rules  # noqa: E402
from backend.listening.enrich import _enrich  # noqa: E402
from backend.listening.matching import match_folded  # noqa: E402
from backend.listening.text import lower, strip_accents  # noqa: E402
from backend.model import Author, InboundPost  # noqa: E402

AT = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)

ENGLISH = [
    "{brand} your app ate my order AGAIN. I want a refund now!",
    "Is {brand} down? The Acme Go app keeps crashing when I log in {tag}",
    "Thanks {brand}, the support team sorted it out in minutes, great service :)",
    "Waiting 3 weeks for my parcel from {brand}, nobody answers. Terrible. {tag}",
    "{brand} I have been charged twice, this is not ok. Cancel my subscription.",
    "honestly {brand} is the best thing that happened to my mornings ☕",
    "anyone else having problems with {brand} today? can't pay with Acme Pay {tag}",
    "my lawyer will hear about this {brand}, third time the delivery is lost 😡",
]
GERMAN = [
    "{brand} meine Bestellung ist immer noch nicht da, seit zwei Wochen! {tag}",
    "Danke {brand}, super schneller Service, bin sehr zufrieden",
    "Die App von {brand} stürzt ständig ab, echt ärgerlich {tag}",
    "Ich will kündigen. {brand} antwortet einfach nicht. Frechheit!",
    "Hat jemand Erfahrung mit {brand}? Lohnt sich das Abo?",
    "{brand} Störung seit heute morgen, nichts geht mehr {tag}",
    "Mein Anwalt meldet sich, {brand} hat mir das Geld nicht zurückgezahlt",
    "Wieder eine Abbuchung ohne Grund, {brand} ist eine Abzocke 😤",
]
NOT_ABOUT_US = [
    "lovely weather in Berlin today, going for a walk",
    "Wile E. Coyote just ordered another Acme anvil",
    "acmecorp is hiring engineers, apply now",
    "Heute gibt es Kuchen im Büro",
]
BRANDS = [
    "@acme",
    "@acme@social.example",
    "Acme",
    "ACME",
    "Acme's",
    "Ａｃｍｅ",
    "Acmé",
    "ACME Corp",
    "Acmes",
]
TAGS = ["", "", "#acme", "#acmefail", "#AcmeHilfe", "#Kundenservice"]


def make_posts(count: int, seed: int) -> list[InboundPost]:
    """A realistic mix of posts, the same for the same seed."""
    rng = random.Random(seed)
    posts = []
    for i in range(count):
        roll = rng.random()
        platform = rng.choice(("mastodon", "mastodon", "bluesky"))
        handle = f"user{rng.randrange(100_000)}"
        is_direct = False
        if roll < 0.08:
            text = rng.choice(NOT_ABOUT_US)
        elif roll < 0.11:
            handle = "acme@social.example" if platform == "mastodon" else "acme.bsky.social"
            text = "Sorry to hear that, we're looking into it right now. ^Ben"
        elif roll < 0.12:
            handle, text = "acme_deals_bot", "@acme deal of the day: 20% off Acme Go!"
        else:
            template = rng.choice(ENGLISH if rng.random() < 0.6 else GERMAN)
            text = template.format(brand=rng.choice(BRANDS), tag=rng.choice(TAGS))
            is_direct = rng.random() < 0.05
        followers = int(rng.lognormvariate(5, 2.2))
        posts.append(
            InboundPost(
                platform=platform,
                post_id=str(i),
                author=Author(str(i), handle, followers=followers),
                text=text,
                created_at=AT,
                is_direct=is_direct,
                language=rng.choice((None, None, "en", "de")) if platform == "mastodon" else None,
            )
        )
    return posts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    rules = load_rules(ROOT / "rules")
    listener = Listener(rules)
    posts = make_posts(args.posts, args.seed)
    listening = rules.listening
    for p in posts[:2000]:  # warm caches and the regex engine
        listener.process(p)

    start = time.perf_counter()
    folded_posts = []
    for p in posts:
        lowered = lower(p.text)
        folded = strip_accents(lowered)
        folded_posts.append((p, lowered, folded, match_folded(listening, p, folded)))
    match_s = time.perf_counter() - start

    matched = [(p, lo, fo, m) for p, lo, fo, m in folded_posts if m is not None and not m.ours]
    start = time.perf_counter()
    priorities: dict[str, int] = {}
    for p, lowered, folded, m in matched:
        e = _enrich(rules, p, m, lowered, folded, None)
        priorities[e.priority] = priorities.get(e.priority, 0) + 1
    enrich_s = time.perf_counter() - start

    start = time.perf_counter()
    results = [listener.process(p) for p in posts]
    total_s = time.perf_counter() - start
    kept = sum(1 for r in results if r is not None)

    n = len(posts)
    print(f"{n} posts ({kept} mentions, {len(matched)} enriched; seed {args.seed})")
    print(f"{'step':<28}{'µs/post':>10}{'posts/s':>12}")
    print(f"{'match (fold + match)':<28}{match_s / n * 1e6:>10.1f}{n / match_s:>12,.0f}")
    print(
        f"{'enrich (per enriched)':<28}{enrich_s / len(matched) * 1e6:>10.1f}{len(matched) / enrich_s:>12,.0f}"
    )
    print(f"{'total (Listener.process)':<28}{total_s / n * 1e6:>10.1f}{n / total_s:>12,.0f}")
    print("priorities: " + ", ".join(f"{k} {priorities[k]}" for k in sorted(priorities)))


if __name__ == "__main__":
    main()
