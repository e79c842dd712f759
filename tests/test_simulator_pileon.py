"""The pile-on scenario: a bounded rate of new customers, the rest landing in
their threads (or not about us), and a sender that keeps several requests in flight."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from aiohttp import web

from backend.clock import FrozenClock
from backend.listening.matching import match
from backend.listening.rules import load_listening
from backend.simulator.feeder import drive
from backend.simulator.scenarios import Simulator

RULES = Path(__file__).resolve().parent.parent / "rules" / "listening.yaml"


def pile_on(n: int, share: float = 0.01, settle: int = 0) -> list:
    return list(
        Simulator("pileon", 5, FrozenClock(), new_customer_share=share, settle_posts=settle).posts(
            n
        )
    )


def test_new_customers_arrive_at_the_bounded_rate_and_everyone_else_piles_on():
    posts = pile_on(20_000, share=0.01)
    firsts = [
        p
        for p in posts
        if p.in_reply_to is None
        and p.author.platform_id.startswith("sim-user")
        and not p.text.startswith(("Same here", "+1", "Me too", "Bei mir", "Hier auch", "Dito"))
    ]
    assert (
        len({p.author.platform_id for p in posts if p.author.platform_id.startswith("sim-user")})
        == 200
    )
    assert len(firsts) == 200  # 1 % of 20,000, no more
    in_threads = [p for p in posts if p.thread_root]
    strangers = [p for p in in_threads if p.author.platform_id.startswith("sim-bystander")]
    assert 0.5 < len(in_threads) / len(posts) < 0.7  # chasing and strangers' replies
    assert 0.2 < len(strangers) / len(posts) < 0.3
    known = {p.post_id for p in posts}
    assert all(p.thread_root in known and p.in_reply_to in known for p in in_threads)


def test_pile_on_only_lands_in_threads_older_than_what_may_still_be_in_flight():
    posts = pile_on(10_000, share=0.01, settle=1000)
    seq = {p.post_id: i for i, p in enumerate(posts)}
    assert all(seq[p.thread_root] <= seq[p.post_id] - 1000 for p in posts if p.thread_root)


def test_what_is_not_about_us_is_dropped_by_the_listening_rules_and_the_rest_matches():
    rules = load_listening(RULES)
    posts = pile_on(4_000)
    noise = [p for p in posts if "/noise/" in (p.url or "")]
    assert 0.2 < len(noise) / len(posts) < 0.35
    assert all(match(rules, p) is None for p in noise)
    assert all(match(rules, p) is not None for p in posts if p not in noise)


def test_without_a_rate_of_its_own_the_pileon_brings_the_scenarios_new_customers():
    posts = list(Simulator("pileon", 1, FrozenClock()).posts(2000))  # 10/s of 2,000/s
    assert (
        len({p.author.platform_id for p in posts if p.author.platform_id.startswith("sim-user")})
        == 10
    )


async def test_the_sender_keeps_several_requests_in_flight():
    in_flight, most, release = 0, 0, asyncio.Event()
    bodies: list[int] = []

    async def ingest(request: web.Request) -> web.Response:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        if most >= 3:
            release.set()
        await release.wait()  # answers only once three are waiting
        in_flight -= 1
        bodies.append(len(json.loads(await request.read())["posts"]))
        return web.json_response({"stored": bodies[-1], "duplicates": 0, "dropped": 0}, status=202)

    app = web.Application()
    app.router.add_post("/ingest/mastodon", ingest)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        report = await drive(
            url,
            "mastodon",
            "s3cret",
            "pileon",
            rate=3000,
            duration=0.5,
            batch_max=100,
            in_flight=3,
            new_customers_per_s=30,
        )
    finally:
        await runner.cleanup()
    assert most == 3  # three outstanding, never more
    assert report.sent == report.accepted == sum(bodies) == 1500 and report.refused == 0
