"""Shifts, handover, crisis and /metrics over real HTTP, time moved by a FrozenClock."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest

from backend.config import CrisisConfig, MetricsConfig
from backend.model import Author, InboundPost
from tests.conftest import start_backend
from tests.processes import run_cli
from tests.test_workflow import Api

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
async def timed(config, db_url, clock):
    # A small surge threshold so a test can cause a crisis with a handful of mentions.
    cfg = config.model_copy(
        update={
            "crisis": CrisisConfig(
                window_seconds=60,
                baseline_seconds=600,
                min_count=5,
                cool_down_seconds=120,
                bucket_seconds=10,
            )
        }
    )
    b = await start_backend(cfg, db_url, clock=clock)
    yield b
    await b.runner.cleanup()


@pytest.fixture
async def team(timed):
    anna_op, anna = await timed.add_operator("anna")
    lea_op, lea = await timed.add_operator("lea", role="lead")
    apis = {"anna": Api(timed.url, anna), "lea": Api(timed.url, lea)}
    yield apis, {"anna": anna_op, "lea": lea_op}
    for api in apis.values():
        await api.close()


async def mention(
    b, text: str, pid: str, handle: str = "jo_k", name: str = "Jo Kamara", **kw
) -> int:
    svc = b.services
    post = InboundPost(
        "simulator", pid, Author(f"id-{handle}", handle, name, 50), text, svc.clock.now(), **kw
    )
    async with svc.pool.acquire() as conn:
        await svc.ingest.store(conn, [post])
        return await conn.fetchval("SELECT conversation_id FROM mentions WHERE post_id = $1", pid)


async def test_shift_starts_once_ends_with_a_note_and_the_next_operator_sees_it(timed, team, clock):
    apis, ops = team
    status, started = await apis["anna"].post("/api/shift/start")
    assert status == 201 and started["latest_handover"] is None and not started["shift"]["resumed"]
    status, again = await apis["anna"].post("/api/shift/start")  # a second console: the same shift
    assert status == 200 and again["shift"]["id"] == started["shift"]["id"]

    cid = await mention(timed, "@acme my parcel is lost, this is terrible", "p1")
    await apis["anna"].post(
        f"/api/conversations/{cid}/notes", {"text": "Courier says Monday", "pinned": True}
    )
    clock.advance(hours=8)
    status, handed = await apis["anna"].post(
        "/api/shift/end", {"note": "Watch the courier thread."}
    )
    assert status == 201
    assert handed["note"] == "Watch the courier thread." and handed["operator"] == "Anna"
    summary = handed["summary"]
    assert summary["operators"] == ["Anna"]
    assert summary["mentions"]["total"] == 1
    assert (
        summary["open"]["total"] == 1
        and summary["open"]["conversations"][0]["conversation_id"] == cid
    )
    assert [n["text"] for n in summary["pinned_notes"]] == ["Courier says Monday"]
    assert (await apis["anna"].post("/api/shift/end", {"note": "twice"}))[0] == 409

    status, latest = await apis["lea"].get("/api/handover/latest")
    assert (
        status == 200
        and latest["id"] == handed["id"]
        and latest["note"] == "Watch the courier thread."
    )
    status, signed_in = await apis["lea"].post("/api/shift/start")
    assert signed_in["latest_handover"]["id"] == handed["id"]
    kinds = [
        r["kind"]
        for r in await timed.pool.fetch(
            "SELECT kind FROM events WHERE kind LIKE 'shift.%' ORDER BY id"
        )
    ]
    assert kinds == ["shift.started", "shift.ended", "shift.started"]


async def test_handover_report_counts_real_activity(timed, team, clock):
    apis, ops = team
    svc = timed.services
    start = clock.now()
    cid = await mention(timed, "@acme charged twice for my order", "p1")
    await mention(timed, "@acme love the new app", "p2", handle="sam", name="Sam")
    clock.advance(minutes=4)
    await apis["anna"].post(f"/api/conversations/{cid}/claim")
    status, _ = await apis["anna"].post(
        f"/api/conversations/{cid}/reply",
        {"text": "Hi Jo, sorry about the double charge. We'll refund it today.", "confirm": True},
    )
    assert status == 201
    await published(svc, 1)
    clock.advance(minutes=1)
    since = start.isoformat().replace("+00:00", "Z")
    status, report = await apis["lea"].get(f"/api/handover?since={since}")
    assert status == 200
    assert report["mentions"]["total"] == 2
    assert report["replies_out"] == {"public": 1, "dm": 0}
    assert report["first_response_seconds"] == {"count": 1, "median": 240.0, "p90": 240.0}
    assert "Anna" in report["operators"]
    async with aiohttp.ClientSession(
        headers={"Authorization": apis["lea"].session.headers["Authorization"]}
    ) as s:
        async with s.get(f"{timed.url}/api/handover", params={"since": since, "format": "md"}) as r:
            md = await r.text()
            assert r.status == 200 and r.content_type == "text/markdown"
    assert (
        "## Mentions in: 2" in md
        and "## Replies out: 1 public, 0 DM" in md
        and "median 4m 00s" in md
    )
    assert (await apis["lea"].get("/api/handover?since=yesterday"))[0] == 400


def test_handover_cli_prints_markdown_and_json(db_url):
    # The report follows the locale (issue 17): pin English whatever the developer's LANG.
    def run(*a):
        return run_cli(
            "handover",
            *a,
            env={"SHIFTDESK_DATABASE_URL": db_url, "LANG": "C.UTF-8"},
            unset=("LC_ALL", "LC_MESSAGES"),
        )

    md = run("--since", "2020-01-01T00:00:00Z")
    assert md.returncode == 0, md.stderr
    assert md.stdout.startswith("# Handover ") and "## SLA breaches: 0" in md.stdout
    js = run("--since", "2020-01-01T00:00:00Z", "--format", "json")
    data = json.loads(js.stdout)
    assert data["period"]["start"] == "2020-01-01T00:00:00Z" and data["mentions"]["total"] == 0
    bad = run("--since", "noon")
    assert bad.returncode == 2 and "--since must be an ISO 8601 time" in bad.stderr


async def test_crisis_starts_and_ends_with_events_from_negative_mentions(timed, team, clock):
    svc = timed.services
    watch = svc.crisis_watch
    await watch.check()
    assert not watch.detector.in_crisis
    for i in range(6):
        await mention(
            timed, "@acme the app is down again, awful and useless", f"n{i}", handle=f"c{i}"
        )
    negative = await svc.pool.fetchval(
        "SELECT count(*) FROM mentions WHERE sentiment < $1", svc.config.crisis.negative_below
    )
    assert negative == 6
    # The watch's own task may get there first (new mentions wake it): either way, one declaration.
    await watch.check()
    await watch.check()
    rows = await svc.pool.fetch(
        "SELECT kind, at FROM events WHERE kind LIKE 'crisis.%' ORDER BY id"
    )
    assert [r["kind"] for r in rows] == ["crisis.started"] and rows[0]["at"] == clock.now()
    started_at = clock.now()
    assert watch.detector.in_crisis

    clock.advance(seconds=70)  # the window empties: calm starts
    await watch.check()
    assert await svc.pool.fetchval("SELECT ended_at FROM crises") is None
    clock.advance(seconds=120)  # calm for the whole cool-down
    await watch.check()
    crisis = await svc.pool.fetchrow("SELECT started_at, ended_at FROM crises")
    assert crisis["started_at"] == started_at and crisis["ended_at"] == clock.now()
    kinds = [
        r["kind"]
        for r in await svc.pool.fetch("SELECT kind FROM events WHERE kind LIKE 'crisis.%'")
    ]
    assert kinds == ["crisis.started", "crisis.ended"]


async def test_holding_statement_is_personalised_checked_and_queued_per_conversation(
    timed, team, clock
):
    apis, ops = team
    svc = timed.services
    a = await mention(
        timed, "@acme my order 123 never arrived, where is my parcel", "p1", name="Jo Kamara"
    )
    b = await mention(
        timed,
        "@acme my order never arrived, where is my parcel?",
        "p2",
        handle="mia",
        name="Mia Roth",
    )
    held = await mention(timed, "@acme parcel never arrived", "p3", handle="kim", name="Kim")
    await apis["anna"].post(f"/api/conversations/{held}/claim")

    status, groups = await apis["lea"].get("/api/crisis/groups")
    assert status == 200
    assert sorted(groups["groups"][0]["ids"])[:2] == [a, b]

    template = "Hi {name}, we know about the problem with {topic} and are on it. We'll update you within the hour."
    body = {"template": template, "conversation_ids": [a, b, held]}
    assert (await apis["anna"].post("/api/crisis/holding-statement", body))[0] == 403
    status, preview = await apis["lea"].post(
        "/api/crisis/holding-statement", {**body, "preview": True}
    )
    assert status == 200 and preview["sent"] == 0
    texts = {r["id"]: r.get("text") for r in preview["results"]}
    assert texts[a].startswith("Hi Jo, we know about the problem with ") and "{" not in texts[a]
    assert texts[b].startswith("Hi Mia,")
    assert (
        await svc.pool.fetchval("SELECT count(*) FROM messages") == 1 - 1
    )  # nothing queued by a preview

    due_before = await svc.pool.fetchval("SELECT sla_due_at FROM conversations WHERE id = $1", a)
    clock.advance(minutes=2)
    status, sent = await apis["lea"].post(
        "/api/crisis/holding-statement", {**body, "confirm": True}
    )
    assert status == 201 and sent["sent"] == 2
    by_id = {r["id"]: r for r in sent["results"]}
    assert by_id[held]["ok"] is False and "Anna holds it" in by_id[held]["error"]
    rows = await svc.pool.fetch(
        "SELECT conversation_id, purpose, text FROM messages ORDER BY conversation_id"
    )
    assert [(r["conversation_id"], r["purpose"]) for r in rows] == [(a, "holding"), (b, "holding")]
    conv = await svc.pool.fetchrow(
        "SELECT state, claimed_by, sla_kind, sla_due_at, first_response_at "
        "FROM conversations WHERE id = $1",
        a,
    )
    assert conv["state"] == "new" and conv["claimed_by"] is None and conv["sla_kind"] == "next"
    assert conv["first_response_at"] == clock.now() and conv["sla_due_at"] != due_before
    assert (
        await apis["lea"].post("/api/crisis/holding-statement", {**body, "template": "Hi {nmae}"})
    )[0] == 422


async def test_holding_statement_refused_by_the_checks_is_skipped_and_reported(timed, team):
    apis, _ = team
    a = await mention(timed, "@acme my order never arrived", "p1")
    status, sent = await apis["lea"].post(
        "/api/crisis/holding-statement",
        {
            "template": "Hi {name}, call me at +49 170 1234567 or mail lea@example.com about {topic}.",
            "conversation_ids": [a],
            "confirm": True,
        },
    )
    assert status == 201 and sent["sent"] == 0
    assert sent["results"][0]["ok"] is False and sent["results"][0]["findings"]
    assert await timed.pool.fetchval("SELECT count(*) FROM messages") == 0


async def published(svc, n: int) -> None:
    """Wait until n messages are published, by the outbox's own event (no sleeps)."""
    sub = svc.hub.subscribe()
    try:
        await svc.outbox.publish_due()
        while (
            await svc.pool.fetchval("SELECT count(*) FROM messages WHERE status = 'published'") < n
        ):
            await asyncio.wait_for(sub.queue.get(), 10)
    finally:
        svc.hub.unsubscribe(sub)


def parse_metrics(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


async def test_metrics_parse_back_to_what_the_database_holds(timed, team, clock):
    apis, _ = team
    svc = timed.services
    cid = await mention(timed, "@acme refund please", "p1")
    await mention(timed, "@acme where is my parcel", "p2", handle="b")
    await apis["anna"].post(f"/api/conversations/{cid}/claim")
    clock.advance(minutes=3)
    await apis["anna"].post(
        f"/api/conversations/{cid}/reply",
        {"text": "Hi Jo, sorry for the wait. Your refund is on its way.", "confirm": True},
    )
    # Let the outbox finish first, so the backlog cannot change between the scrape and the count.
    for _ in range(100):
        if not await svc.pool.fetchval("SELECT count(*) FROM outbox WHERE done_at IS NULL"):
            break
        await svc.outbox.publish_due()
    due = await svc.pool.fetchval("SELECT max(sla_due_at) FROM conversations")
    clock.set(due)
    await svc.sla_clock.check()
    async with aiohttp.ClientSession() as s, s.get(timed.url + "/metrics") as r:
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        m = parse_metrics(await r.text())
    depth = {
        (r["state"], r["priority"]): r["n"]
        for r in await svc.pool.fetch(
            "SELECT state, priority, count(*) AS n FROM conversations GROUP BY 1, 2"
        )
    }
    for (state, prio), n in depth.items():
        assert m[f'shiftdesk_queue_depth{{state="{state}",priority="P{prio}"}}'] == n
    assert m['shiftdesk_first_response_seconds_bucket{le="60"}'] == 0
    assert m['shiftdesk_first_response_seconds_bucket{le="300"}'] == 1
    assert (
        m["shiftdesk_first_response_seconds_count"] == 1
        and m["shiftdesk_first_response_seconds_sum"] == 180
    )
    breaches = await svc.pool.fetchval("SELECT count(*) FROM sla_breaches")
    assert breaches == 1
    assert sum(v for k, v in m.items() if k.startswith("shiftdesk_sla_breaches_total")) == breaches
    assert m['shiftdesk_mentions_ingested_total{platform="simulator"}'] == 2
    assert m["shiftdesk_outbox_backlog"] == await svc.pool.fetchval(
        "SELECT count(*) FROM outbox WHERE done_at IS NULL"
    )
    assert "jo_k" not in await _metrics_text(timed)  # aggregates only


async def _metrics_text(b) -> str:
    async with aiohttp.ClientSession() as s, s.get(b.url + "/metrics") as r:
        return await r.text()


async def test_metrics_token_when_configured(config, db_url):
    cfg = config.model_copy(update={"metrics": MetricsConfig(token_env="SCRAPE_TOKEN")})
    b = await start_backend(cfg, db_url, env={"SCRAPE_TOKEN": "s3cret"})
    try:
        async with aiohttp.ClientSession() as s:
            async with s.get(b.url + "/metrics") as r:
                assert r.status == 401
            async with s.get(b.url + "/metrics", headers={"Authorization": "Bearer s3cret"}) as r:
                assert r.status == 200 and "shiftdesk_queue_depth" in await r.text()
    finally:
        await b.runner.cleanup()


async def test_the_reports_numbers_match_the_event_log_and_the_crisis_peak_is_counted(db, clock):
    """Issue 14: mentions, breaches and the crisis peak as the report gives them equal counts
    taken from the events and mentions tables themselves."""
    from datetime import timedelta

    from backend.handover.queries import collect
    from backend.handover.report import render_json, summarise
    from backend.ingest.store import Ingest, Processed
    from backend.sla.policy import fixed_deadlines

    def negative(p: InboundPost) -> Processed:
        return Processed(p, sentiment=-0.8)

    ingest = Ingest(negative, fixed_deadlines(timedelta(hours=1)), clock)
    start = clock.now()
    # A burst: 40 angry customers in one minute, then 3 a minute for five minutes.
    burst = [
        InboundPost("simulator", f"b{i}", Author(f"a{i}", f"c{i}", "C"), "@acme down", clock.now())
        for i in range(40)
    ]
    await ingest.store(db, burst)
    for minute in range(1, 6):
        clock.advance(minutes=1)
        posts = [
            InboundPost(
                "simulator",
                f"m{minute}-{j}",
                Author(f"a{j}", f"c{j}", "C"),
                "@acme still",
                clock.now(),
            )
            for j in range(3)
        ]
        await ingest.store(db, posts)
    await db.execute(
        "INSERT INTO crises (started_at, ended_at, peak_per_minute) VALUES ($1, $2, 5)",
        start + timedelta(seconds=30),
        clock.now(),
    )
    end = clock.now() + timedelta(minutes=1)
    report = render_json(summarise(await collect(db, start, end)))
    from_events = await db.fetchval(
        """SELECT coalesce(sum((data->>'count')::int), 0) FROM events
           WHERE kind IN ('conversation.opened', 'mention.received') AND at >= $1 AND at < $2""",
        start,
        end,
    )
    assert report["mentions"]["total"] == from_events == 55
    assert report["breaches"]["total"] == await db.fetchval(
        "SELECT count(*) FROM events WHERE kind = 'sla.breach' AND at >= $1 AND at < $2", start, end
    )
    # The peak is the busiest real minute (the burst, just before the declaration), not 5.
    assert report["crises"][0]["peak_per_minute"] == 40


async def test_a_holding_statement_goes_out_in_each_conversations_language(timed, team):
    """Issue 14/17: with a German text given, a German conversation gets it, others the main one."""
    lead = team[0]["lea"]
    svc = timed.services
    posts = [
        InboundPost("simulator", "en1", Author("a1", "jo", "Jo"), "@acme app is down", svc.clock.now(), language="en"),
        InboundPost("simulator", "de1", Author("a2", "lena", "Lena"), "@acme App geht nicht", svc.clock.now(), language="de"),
    ]  # fmt: skip
    async with svc.pool.acquire() as conn:
        await svc.ingest.store(conn, posts)
        ids = dict(
            await conn.fetch(
                "SELECT a.handle, c.id FROM conversations c JOIN authors a ON a.id = c.author_id"
            )
        )
    status, answer = await lead.post(
        "/api/crisis/holding-statement",
        {
            "template": "Hi {name}, we are on it.",
            "templates": {"de": "Hallo {name}, wir sind dran."},
            "conversation_ids": [ids["jo"], ids["lena"]],
            "preview": True,
        },
    )
    assert status == 200, answer
    texts = {r["id"]: r["text"] for r in answer["results"]}
    assert texts == {ids["jo"]: "Hi Jo, we are on it.", ids["lena"]: "Hallo Lena, wir sind dran."}
