"""Bad input: property-based tests (hypothesis) for the matchers, the rules
engine and the webhook parser; malformed, oversized, non-UTF-8, NUL and
escape-laden requests against the API; and the whole HTTP API fuzzed from
backend/openapi.yaml (schemathesis) against a live backend, with no 5xx.

Deterministic and bounded: derandomized, a fixed number of examples each."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend import operators
from backend.checks import check_outbound
from backend.connectors.webhook import MAX_POSTS, WebhookError, parse
from backend.ingest.store import make_processor
from backend.listening import match
from backend.listening.text import fold
from backend.model import Author, InboundPost
from backend.rulebook import load_rulebook
from tests.listening_helpers import RULES_DIR, post, project_rules
from tests.processes import BackendProcess

pytestmark = pytest.mark.faults

ROOT = Path(__file__).resolve().parent.parent
PURE = settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
RULEBOOK = load_rulebook(RULES_DIR)
PROCESS = make_processor(RULEBOOK)

# Text as platforms send it, including what must stay literal: control characters,
# ANSI escapes, Rich/HTML markup, right-to-left marks, emoji, surrogates excluded.
NASTY = st.sampled_from(
    [
        "\x1b[31m",
        "\x1b]0;title\x07",
        "[bold red]",
        "[/]",
        "<script>",
        "&amp;",
        "\u202e",
        "\r\n",
        "\t",
        "\x7f",
        "💥",
        "Ａｃｍｅ",
        "'; DROP TABLE mentions; --",
        "%s",
        "{0}",
    ]
)
TEXT = st.lists(st.one_of(st.text(max_size=20), NASTY), max_size=8).map("".join)
CLEAN_TEXT = TEXT.filter(lambda t: "\x00" not in t)


# -- matchers -------------------------------------------------------------------------


@PURE
@given(TEXT)
def test_the_matcher_never_fails_and_a_tag_of_our_handle_always_matches(text):
    rules = project_rules().listening
    assert match(rules, post(text)) is None or match(rules, post(text)).how
    tagged = "@acme " + text
    excluded = rules.exclude_phrase_terms is not None and any(
        fold(p) in fold(tagged) for p in rules.exclude_phrases
    )
    found = match(rules, post(tagged))
    if not excluded:
        assert found is not None and "tagged" in found.how


@PURE
@given(
    TEXT,
    st.sampled_from(["mastodon", "bluesky", "simulator", "partner"]),
    st.integers(min_value=0, max_value=10**9),
    st.booleans(),
)
def test_the_rules_engine_classifies_any_post_within_bounds_and_deterministically(
    text, platform, followers, direct
):
    p = InboundPost(
        platform,
        "1",
        Author("a1", "jo_k", "Jo", followers),
        text,
        datetime(2026, 11, 25, 9, tzinfo=UTC),
        is_direct=direct,
    )
    first, second = PROCESS(p), PROCESS(p)
    assert first == second
    if first is not None:
        assert 1 <= first.priority <= 4
        assert first.post.text == text  # kept literally, nothing stripped
        assert all(isinstance(f, dict) and f.get("check") for f in first.flags)


@PURE
@given(TEXT, st.sampled_from(["public", "dm"]), st.sampled_from([None, "en", "de"]))
def test_composer_checks_accept_any_text(text, channel, language):
    findings = check_outbound(RULEBOOK.checks, text, channel=channel, language=language)
    assert all(f.check and f.message for f in findings)


# -- webhook parser -------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


def refused_cleanly(body: bytes) -> list[InboundPost] | WebhookError:
    try:
        return parse("partner", body, 64 * 1024, "application/json")
    except WebhookError as exc:
        assert exc.status in (400, 413, 415, 422) and exc.message
        return exc


@PURE
@given(st.binary(max_size=300))
def test_the_webhook_parser_answers_any_bytes_with_posts_or_a_4xx(body):
    refused_cleanly(body)


@PURE
@given(JSON)
def test_the_webhook_parser_answers_any_json_with_posts_or_a_4xx_naming_the_field(data):
    result = refused_cleanly(json.dumps(data).encode())
    if isinstance(result, WebhookError) and result.status == 422:
        assert result.message.split(":")[0].startswith(("post", "posts", "body"))


def valid(pid: str, text: str, handle: str, name: str) -> dict:
    return {
        "id": pid,
        "author": {"id": "u1", "handle": handle, "display_name": name},
        "text": text,
        "created_at": "2026-11-25T09:00:00Z",
    }


@PURE
@given(CLEAN_TEXT, CLEAN_TEXT.filter(lambda h: h.strip()), CLEAN_TEXT)
def test_every_text_field_is_kept_literally(text, handle, name):
    body = json.dumps({"posts": [valid("1", text, handle, name)]}).encode()
    [p] = parse("partner", body, 64 * 1024, "application/json")
    assert (
        p.text == text and p.author.display_name == name and p.author.handle == handle.lstrip("@")
    )


@PURE
@given(st.sampled_from(["id", "text", "handle", "display_name"]), CLEAN_TEXT, CLEAN_TEXT)
def test_a_nul_in_any_text_field_refuses_the_whole_batch(field, before, after):
    bad = valid("2", "@acme hi", "jo", "Jo")
    target = bad["author"] if field in ("handle", "display_name") else bad
    target[field] = before + "\x00" + after
    body = json.dumps({"posts": [valid("1", "@acme fine", "ok", "Ok"), bad]}).encode()
    result = refused_cleanly(body)
    assert isinstance(result, WebhookError) and result.status in (400, 422)


def test_too_many_posts_and_too_many_bytes_are_413():
    many = json.dumps(
        {"posts": [valid(str(i), "x", "h", "") for i in range(MAX_POSTS + 1)]}
    ).encode()
    assert refused_cleanly(many).status == 413
    assert refused_cleanly(b" " * (64 * 1024 + 1)).status == 413


# -- the API over HTTP ------------------------------------------------------------------


async def test_bad_bodies_get_a_clear_4xx_and_store_nothing(backend):
    svc = backend.services
    p = InboundPost(
        "simulator", "p1", Author("id-jo", "jo_k", "Jo", 5), "@acme help", svc.clock.now()
    )
    async with svc.pool.acquire() as conn:
        await svc.ingest.store(conn, [p])
    cid = await svc.pool.fetchval("SELECT id FROM conversations")
    _, token = await backend.add_operator("anna")
    url = f"{backend.url}/api/conversations/{cid}"
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as s:
        async with s.post(url + "/claim") as r:
            assert r.status == 200
        cases = [
            (b"{not json", "application/json", 400, "not valid JSON"),
            (b"\xff\xfe{}", "application/json", 400, "not valid JSON"),  # not UTF-8
            (b"[1, 2]", "application/json", 400, "JSON object"),
            (json.dumps({"text": 5}).encode(), "application/json", 400, "'text' must be text"),
            (json.dumps({"text": "hi\x00there"}).encode(), "application/json", 400, "NUL"),
            (json.dumps({"text": "x" * 10_001}).encode(), "application/json", 413, "longer than"),
            (
                json.dumps({"text": "hi", "confirm": "yes", "pinned": "yes"}).encode(),
                "application/json",
                400,
                "true or false",
            ),
            (b"{" + b" " * (1024**2 + 10) + b"}", "application/json", 413, ""),
        ]
        for body, ctype, status, words in cases:
            for verb in ("reply", "notes"):
                async with s.post(f"{url}/{verb}", data=body, headers={"Content-Type": ctype}) as r:
                    answer = await r.json()
                    assert r.status == status, (verb, body[:40], r.status, answer)
                    assert words in answer["error"]
        assert await svc.pool.fetchval("SELECT count(*) FROM messages") == 0
        assert await svc.pool.fetchval("SELECT count(*) FROM notes") == 0
        assert await svc.pool.fetchval("SELECT count(*) FROM outbox") == 0

        # Ids past PostgreSQL's bigint were a 500 (found by the fuzz test below); now a 400.
        for path, body in [
            ("/api/advise", {"text": "hi", "conversation_id": 2**63}),
            ("/api/bulk", {"action": "tag", "ids": [2**63], "tag": "x"}),
            ("/api/presence", {"conversation_id": 2**64}),
            (f"/api/conversations/{cid}/reassign", {"operator_id": 10**19}),
        ]:
            async with s.post(backend.url + path, json=body) as r:
                assert r.status == 400, (path, await r.text())

        # Escape sequences and markup are stored and served back literally.
        nasty = "\x1b[31m[bold]red[/bold]\x1b[0m <b>x</b> \u202e ${jndi:x}"
        async with s.post(f"{url}/notes", json={"text": nasty}) as r:
            assert r.status == 201
        async with s.get(url) as r:
            assert (await r.json())["notes"][0]["text"] == nasty


OPENAPI = ROOT / "backend" / "openapi.yaml"
SKIP_FUZZ = {("GET", "/api/stream")}  # a WebSocket; its parameters are covered by test_workflow


def fuzz(url: str, token: str, examples: int) -> list[str]:
    """Every operation in the spec, `examples` generated requests each; the 5xx answers found,
    and every answer whose status, content type or body the spec does not describe."""
    import schemathesis
    from schemathesis.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    conformance = [status_code_conformance, content_type_conformance, response_schema_conformance]

    schema = schemathesis.openapi.from_path(OPENAPI)
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SKIP_FUZZ:
            continue

        @settings(
            max_examples=examples,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def run(case) -> None:
            response = case.call(
                base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10
            )
            where = (
                f"{case.method} {case.formatted_path} {case.body!r:.200} -> {response.status_code}"
            )
            if response.status_code >= 500:
                failures.append(f"{where} {response.text[:200]}")
                return
            try:
                case.validate_response(response, checks=conformance)
            except Exception as exc:  # noqa: BLE001 - schemathesis raises a group of failures
                failures.append(f"{where} not as the spec says: {str(exc)[:600]}")

        run()
    return failures


async def test_the_http_api_fuzzed_from_its_openapi_spec_never_answers_5xx(db_url, tmp_path):
    backend = BackendProcess(
        db_url,
        log_path=tmp_path / "serve.log",
        env={"SHIFTDESK_WEBHOOK_SIMULATOR_SECRET": "fuzz-secret"},
    )
    from datetime import timedelta

    from backend.clock import Clock
    from backend.db.pool import create_pool
    from backend.ingest.store import Ingest, accept_all
    from backend.sla.policy import fixed_deadlines

    pool = await create_pool(db_url, 1, 2)
    try:
        _, token = await operators.add(pool, "lea", "Lea", role="lead")
        ingest = Ingest(accept_all, fixed_deadlines(timedelta(hours=1)), Clock())
        async with pool.acquire() as conn:  # conversations 1..3, so generated ids sometimes exist
            await ingest.store(
                conn,
                [
                    InboundPost(
                        "simulator",
                        f"p{i}",
                        Author(f"a{i}", f"user{i}", "U", 1),
                        "@acme help",
                        Clock().now(),
                    )
                    for i in range(3)
                ],
            )
        await backend.start()
        failures = await asyncio.to_thread(fuzz, backend.url, token, 25)
        assert not failures, "\n".join(failures[:10])
        assert "Traceback" not in backend.log()
    finally:
        backend.stop()
        await pool.close()


async def test_inputs_that_used_to_answer_500_get_a_4xx_with_a_message(backend):
    """Each of these reached PostgreSQL or Python's limits and came back as a 500."""
    svc = backend.services
    p = InboundPost(
        "simulator", "p1", Author("id-jo", "jo_k", "Jo", 5), "@acme help", svc.clock.now()
    )
    async with svc.pool.acquire() as conn:
        await svc.ingest.store(conn, [p])
    cid = await svc.pool.fetchval("SELECT id FROM conversations")
    _, token = await backend.add_operator("anna")
    conv = f"{backend.url}/api/conversations/{cid}"
    json_type = {"Content-Type": "application/json"}
    cases = [
        ("GET", f"{backend.url}/api/queue?q=%00", None, "NUL"),
        ("GET", f"{backend.url}/api/queue?q=a%00b&filter=all", None, "NUL"),
        ("POST", f"{conv}/notes", b'{"text": "hi \\ud800 there"}', "surrogate"),
        ("POST", f"{conv}/tags", b'{"tag": "\\udfff"}', "surrogate"),
        ("POST", f"{conv}/reply", b'{"text": "hi", "extra": {"k\\ud800": 1}}', "key"),
        ("POST", f"{conv}/notes", b"[" * 100_000 + b"]" * 100_000, "nested"),
        ("POST", f"{conv}/notes", b'{"text": "x", "a": ' + b"[" * 60 + b"]" * 60 + b"}", "nested"),
        ("POST", f"{conv}/notes", b'{"text": NaN}', "not a JSON number"),
        ("POST", f"{conv}/notes", b'{"text": 1e999}', "finite"),
        ("POST", f"{conv}/notes", b'{"text": ' + b"9" * 5000 + b"}", "digits"),
        ("GET", f"{backend.url}/api/handover?since=0001-01-01T00:00:00Z", None, "since"),
        ("GET", f"{backend.url}/api/handover?since=0001-01-01T00:00:00%2B14:00", None, "since"),
        ("GET", f"{backend.url}/api/handover?since=9999-12-31T23:59:59-12:00", None, "since"),
    ]
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as s:
        for method, url, body, words in cases:
            async with s.request(method, url, data=body, headers=json_type) as r:
                answer = await r.json()
                assert 400 <= r.status < 500, (url, body and body[:60], r.status, answer)
                assert words in answer["error"], (url, answer)
    assert await svc.pool.fetchval("SELECT count(*) FROM notes") == 0
    assert await svc.pool.fetchval("SELECT count(*) FROM conversation_tags") == 0


# Any JSON a sender might produce, including what PostgreSQL cannot store: lone
# surrogates (json.dumps escapes them as \udxxx), NUL, NaN and Infinity, huge numbers.
WILD_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=12)
WILD = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | WILD_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(WILD_TEXT, inner, max_size=3),
    max_leaves=12,
)
WILD_POST = st.fixed_dictionaries(
    {
        "id": WILD_TEXT,
        "author": st.fixed_dictionaries(
            {"id": WILD_TEXT, "handle": WILD_TEXT},
            optional={"display_name": WILD, "followers": WILD},
        ),
        "text": WILD_TEXT,
        "created_at": st.one_of(
            st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat()), WILD_TEXT
        ),
    },
    optional={"extra": WILD, "language": WILD, "mentions": WILD, "url": WILD},
)


async def test_whatever_a_signed_batch_holds_what_passes_validation_stores_without_error(pool):
    """Post by post: each is refused with its index or stored; a refusal names the post."""
    from backend.connectors.webhook import parse_batch

    accepted: list[InboundPost] = []

    @PURE
    @given(st.lists(WILD_POST, min_size=1, max_size=4))
    def check(posts):
        body = json.dumps({"posts": posts}).encode()
        batch = parse_batch("partner", body, 1_000_000)
        assert len(batch.posts) + len(batch.refused) == len(posts)
        for refused in batch.refused:
            assert refused.reason.startswith(f"posts[{refused.index}]"), refused
        accepted.extend(batch.posts)

    check()
    assert accepted, "the strategy should produce some valid posts"
    from dataclasses import replace

    from backend.clock import FrozenClock
    from backend.ingest.store import Ingest, accept_all
    from backend.sla.policy import fixed_deadlines

    ingest = Ingest(accept_all, fixed_deadlines(timedelta(hours=1)), FrozenClock())
    unique = [replace(p, post_id=f"{i}:{p.post_id}") for i, p in enumerate(accepted)]
    async with pool.acquire() as conn:
        result = await ingest.store(conn, unique)
    assert result.stored == len(unique)
