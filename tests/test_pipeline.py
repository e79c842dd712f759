"""Listening and the inbound checks, wired into ingest, on a real PostgreSQL."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from backend.ingest.rules_watch import RulesWatcher
from backend.ingest.store import Ingest, make_processor
from backend.model import Author, InboundPost
from backend.rulebook import load_rulebook
from backend.sla.policy import fixed_deadlines

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def rulebook():
    return load_rulebook(ROOT / "rules")


def ingest_with(rulebook, clock) -> Ingest:
    return Ingest(make_processor(rulebook), fixed_deadlines(timedelta(minutes=30)), clock)


def post(clock, pid, text, author="jo", **kw) -> InboundPost:
    return InboundPost(
        "mastodon",
        pid,
        Author(f"id-{author}", author, author.title(), 120),
        text,
        clock.now(),
        **kw,
    )


async def test_posts_not_about_us_are_dropped_and_ours_never_queued(db, clock, rulebook):
    ingest = ingest_with(rulebook, clock)
    result = await ingest.store(
        db,
        [
            post(clock, "1", "Road Runner vs the ACME anvil, classic"),  # exclusion phrase
            post(clock, "2", "acmecorp is hiring"),  # not word-bounded
            post(clock, "3", "@acme my order never arrived"),
            post(
                clock,
                "4",
                "Sorry to hear that, Jo! Could you DM us?",
                author="acme",
                in_reply_to="3",
            ),
        ],
    )
    assert result.dropped == 2
    assert await db.fetchval("SELECT count(*) FROM conversations") == 1
    ours = await db.fetchrow("SELECT is_ours, conversation_id FROM mentions WHERE post_id = '4'")
    assert ours["is_ours"] is True
    assert ours["conversation_id"] == await db.fetchval("SELECT id FROM conversations")


async def test_priority_and_reasons_are_recorded(db, clock, rulebook):
    ingest = ingest_with(rulebook, clock)
    angry = InboundPost(
        "mastodon",
        "9",
        Author("id-big", "bigvoice", "Big Voice", 250_000),
        "@acme outage AGAIN, this is a disgrace. I want a refund or I call my lawyer",
        clock.now(),
    )
    await ingest.store(db, [angry])
    conv = await db.fetchrow("SELECT priority, priority_reasons FROM conversations")
    assert conv["priority"] == 1
    assert any("refund" in r or "lawyer" in r or "outage" in r for r in conv["priority_reasons"])


async def test_abusive_post_goes_to_flagged_conduct_without_sla_pressure(db, clock, rulebook):
    ingest = ingest_with(rulebook, clock)
    await ingest.store(db, [post(clock, "1", "@acme you fucking idiots, go to hell")])
    conv = await db.fetchrow("SELECT state, sla_due_at, flags FROM conversations")
    assert conv["state"] == "flagged_conduct"
    assert conv["sla_due_at"] is None
    assert [f["check"] for f in conv["flags"]] == ["abusive"]


async def test_ordinary_angry_complaint_is_not_abuse(db, clock, rulebook):
    ingest = ingest_with(rulebook, clock)
    await ingest.store(
        db, [post(clock, "1", "@acme Scheißservice, seit zwei Wochen keine Lieferung!")]
    )
    conv = await db.fetchrow("SELECT state, sla_due_at FROM conversations")
    assert conv["state"] == "new" and conv["sla_due_at"] is not None


async def test_personal_data_in_public_is_flagged_for_a_dm(db, clock, rulebook):
    ingest = ingest_with(rulebook, clock)
    await ingest.store(db, [post(clock, "1", "@acme refund to DE89 3704 0044 0532 0130 00 please")])
    flags = await db.fetchval("SELECT flags FROM mentions")
    assert flags[0]["check"] == "personal_data"
    assert flags[0]["detail"]["suggest"] == "move_to_dm"


async def test_broken_rules_edit_keeps_the_previous_rules_and_says_so(pool, tmp_path, rulebook):
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    applied = []
    watcher = RulesWatcher(rules, pool, applied.append)
    assert await watcher.check() is None  # nothing changed yet

    (rules / "listening.yaml").write_text((rules / "listening.yaml").read_text() + "\nbroken: [\n")
    assert await watcher.check() is False
    assert applied == []
    event = await pool.fetchrow("SELECT kind, data FROM events ORDER BY id DESC LIMIT 1")
    assert event["kind"] == "rules.invalid"
    assert "listening.yaml" in event["data"]["errors"][0]

    shutil.copy(ROOT / "rules" / "listening.yaml", rules / "listening.yaml")
    assert await watcher.check() is True
    assert len(applied) == 1
    assert (
        await pool.fetchval("SELECT kind FROM events ORDER BY id DESC LIMIT 1") == "rules.reloaded"
    )


async def test_a_rules_edit_the_schema_refuses_is_not_applied(pool, tmp_path):
    # Valid YAML, wrong rules: a bad pattern and an unknown key, both named in the event.
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    applied = []
    watcher = RulesWatcher(rules, pool, applied.append)
    tone = (rules / "tone.yaml").read_text().replace("    - user error", "    - user (error")
    (rules / "tone.yaml").write_text(tone)
    (rules / "triage.yaml").write_text((rules / "triage.yaml").read_text() + "\nurgent: 3\n")
    assert await watcher.check() is False
    assert applied == []
    errors = (await pool.fetchval("SELECT data FROM events ORDER BY id DESC LIMIT 1"))["errors"]
    line = tone.splitlines().index("    - user (error") + 1
    assert any(
        e.startswith(f"{rules / 'tone.yaml'}:{line}: blame.en[1]: not a valid pattern")
        for e in errors
    ), errors
    assert any(
        e.endswith("urgent: unknown setting (did you mean urgent_words?)") for e in errors
    ), errors


def test_listening_worker_prepares_exactly_what_listening_here_does(rulebook):
    """The worker gets only the fields listening reads; every result must still
    be the one the in-process processor gives, on every kind of post."""
    import asyncio
    import sys

    from backend.ingest.store import prepare
    from backend.ingest.worker import ListeningWorker

    sys.path.insert(0, str(ROOT / "bench"))
    from ingest import (
        generate,  # the ingest bench's mix: en/de, tags, names, DMs, our replies, noise
    )

    posts = list(generate(600, seed=11))
    posts += posts[:5]  # repeats within the batch
    posts.append(
        InboundPost(
            "mastodon",
            "x1",
            Author("id-x", "x", "X", 99_000),
            "@acme Ihr Vollidioten, meine IBAN ist DE89 3704 0044 0532 0130 00",
            posts[0].created_at,
        )
    )
    here = prepare(make_processor(rulebook), posts)

    async def there():
        with ListeningWorker(ROOT / "rules") as worker:
            return await worker.prepare(posts)

    worker_result = asyncio.run(there())
    assert worker_result == here
    assert here.duplicates == 5 and here.dropped > 0
    assert any(p.abusive for p in here.processed) and any(p.ours for p in here.processed)
    assert any(f["check"] == "personal_data" for p in here.processed for f in p.flags)


def test_listening_worker_refuses_broken_rules_with_the_file_and_line(tmp_path):
    from backend.ingest.worker import ListeningWorker
    from backend.yamlfile import FileErrors

    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    (tmp_path / "rules" / "triage.yaml").write_text("thresholds: [oops\n")
    with pytest.raises(FileErrors) as err:
        ListeningWorker(tmp_path / "rules")
    assert "triage.yaml:" in str(err.value)


async def test_ingest_listens_to_big_batches_in_the_worker_and_carries_on_when_it_dies(
    rulebook, clock, caplog
):
    """A killed worker process costs nothing: that batch listens in the backend's
    process (same result) and a later batch gets a new worker process."""
    import os
    import signal

    from backend.ingest.store import prepare
    from backend.ingest.worker import ListeningWorker

    posts = [
        post(clock, f"w{i}", f"@acme order {i} still missing, refund please", author=f"c{i}")
        for i in range(60)
    ]
    here = prepare(make_processor(rulebook), posts)
    worker = ListeningWorker(ROOT / "rules", validate=False)
    ingest = Ingest(
        make_processor(rulebook),
        fixed_deadlines(timedelta(minutes=30)),
        clock,
        worker=worker,
        worker_min_batch=50,
    )
    try:
        assert await ingest.listen(posts) == here
        first = set(worker._pool._processes)  # the process that listened
        assert len(first) == 1
        assert await ingest.listen(posts[:10]) == prepare(
            make_processor(rulebook), posts[:10]
        )  # small: here
        os.kill(first.pop(), signal.SIGKILL)
        assert await ingest.listen(posts) == here  # listened here instead
        assert "listening worker unavailable" in caplog.text
        worker._down_until = 0.0  # as after RETRY_AFTER
        assert await ingest.listen(posts) == here
        assert len(worker._pool._processes) == 1
    finally:
        worker.close()


def test_the_backend_listens_in_a_worker_that_follows_rule_changes(rulebook, db_url):
    from backend.app import init_app
    from backend.config import Config, IngestConfig
    from backend.ingest.store import INGEST, accept_all
    from backend.ingest.worker import ListeningWorker
    from backend.rulebook import RULES

    app = init_app(Config(), db_url, background=False)
    ingest = app[INGEST]
    first = ingest.worker
    assert isinstance(first, ListeningWorker)
    app[RULES].use(rulebook)  # what the rules watcher does after an edit
    assert isinstance(ingest.worker, ListeningWorker) and ingest.worker is not first
    assert first._pool._shutdown_thread  # the old one was told to stop
    ingest.worker.close()

    # A backend given its own processor (tests) or configured without one listens in place.
    assert init_app(Config(), db_url, processor=accept_all, background=False)[INGEST].worker is None
    # Rules handed in (not read from config.rules_dir) are not what a worker would read: listen in place.
    assert init_app(Config(), db_url, rulebook=rulebook, background=False)[INGEST].worker is None
    off = Config(ingest=IngestConfig(listening_worker=False))
    assert init_app(off, db_url, background=False)[INGEST].worker is None
