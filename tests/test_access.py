"""Access: every /api route (taken from the router, so a new one is covered
the day it is added) without a token, with a malformed or revoked token, with
the wrong role, and against another operator's claim; secrets never in logs,
events or error bodies; SQL never built from request data."""

from __future__ import annotations

import ast
import json
import logging
import re
from pathlib import Path

import aiohttp
import pytest

from backend import operators
from backend.app import route_table
from backend.connectors.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from backend.model import Author, InboundPost
from backend.web.guard import AUTH_GUARD
from backend.web.keys import CLOCK
from tests.conftest import start_backend

pytestmark = pytest.mark.faults

ROOT = Path(__file__).resolve().parent.parent

# Routes only a lead may call (an operator gets 403).
LEAD_ONLY = {
    ("POST", "/api/conversations/{id}/reassign"),
    ("POST", "/api/conversations/{id}/force-release"),
}

# What another operator may do to a conversation Anna holds: read it and annotate it (notes,
# tags, escalation; each recorded in the audit log under their own name). Everything that
# speaks to the customer or moves the conversation is refused, naming Anna.
OPEN_TO_OTHERS = {
    ("GET", "/api/conversations/{id}"),
    ("GET", "/api/conversations/{id}/house-rules"),  # reading the statement changes nothing
    ("POST", "/api/conversations/{id}/notes"),
    ("POST", "/api/conversations/{id}/tags"),
    ("DELETE", "/api/conversations/{id}/tags/{tag}"),
    ("POST", "/api/conversations/{id}/escalate"),
}

BODIES = {
    "reply": {"text": "Hi Jo, sorry about that. I'm looking into it now.", "confirm": True},
    "dm": {"text": "Hi Jo, could you send me your order number?", "confirm": True},
    "move-to-dm": {
        "public_text": "Hi Jo, sorry! We've sent you a DM.",
        "dm_text": "Hi Jo, could you send me your order number?",
        "confirm": True,
    },
    "resolve": {"text": "Glad that's sorted, Jo. Have a good day!", "confirm": True},
    "house-rules": {},
    "dismiss": {"reason": "spam"},
    "escalate": {"reason": "needs a lead"},
    "notes": {"text": "called the depot"},
    "tags": {"tag": "parcel"},
    "reassign": {"operator_id": 0},
}


def api_routes(app) -> list[tuple[str, str]]:
    return sorted((m, p) for m, p in route_table(app) if p.startswith("/api/"))


def body_for(path: str, **override: dict) -> dict:
    verb = path.rstrip("/").split("/")[-1]
    return override.get(verb.replace("-", "_"), BODIES.get(verb, {}))


async def mention(backend, pid: str, handle: str = "jo_k") -> int:
    svc = backend.services
    post = InboundPost(
        "simulator",
        pid,
        Author(f"id-{handle}", handle, "Jo", 5),
        "@acme my parcel is lost",
        svc.clock.now(),
    )
    async with svc.pool.acquire() as conn:
        await svc.ingest.store(conn, [post])
        return await conn.fetchval("SELECT conversation_id FROM mentions WHERE post_id = $1", pid)


async def call(
    session: aiohttp.ClientSession, method: str, url: str, body: dict
) -> tuple[int, dict | None, str]:
    kw = {"json": body} if method in ("POST", "PUT", "PATCH") else {}
    async with session.request(method, url, **kw) as r:
        text = await r.text()
        try:
            data = json.loads(text) if text else None
        except ValueError:
            data = None
        return r.status, data, text


async def test_every_api_route_refuses_missing_malformed_and_revoked_tokens(backend):
    cid = await mention(backend, "p1")
    _, revoked = await backend.add_operator("gone")
    await operators.revoke(backend.pool, "gone")
    routes = api_routes(backend.app)
    assert len(routes) >= 25
    # Every route with two bad tokens is more than the guesser allowance below; not this test's point.
    backend.app[AUTH_GUARD].limit = 1_000
    headers = [
        {},
        {"Authorization": "Basic YW5uYTpzZWNyZXQ="},
        {"Authorization": "Bearer "},
        {"Authorization": f"Bearer {revoked}"},
        {"Authorization": "Bearer sd_not-a-real-token"},
    ]
    for h in headers:
        async with aiohttp.ClientSession(headers=h) as s:
            for method, path in routes:
                status, data, text = await call(
                    s, method, backend.url + path.format(id=cid, tag="x"), body_for(path)
                )
                assert status == 401, (h, method, path, status)
                assert "token" in data["error"]
                assert revoked not in text
    # Nothing any of that touched was changed.
    assert (
        await backend.pool.fetchval("SELECT claimed_by FROM conversations WHERE id = $1", cid)
        is None
    )
    assert await backend.pool.fetchval("SELECT count(*) FROM messages") == 0


async def test_lead_only_routes_refuse_an_operator_and_let_a_lead(backend):
    cid = await mention(backend, "p1")
    anna_op, anna = await backend.add_operator("anna")
    _, lea = await backend.add_operator("lea", role="lead")
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {anna}"}) as s:
        assert (await call(s, "POST", f"{backend.url}/api/conversations/{cid}/claim", {}))[0] == 200
        for method, path in sorted(LEAD_ONLY):
            status, data, _ = await call(
                s, method, backend.url + path.format(id=cid), {"operator_id": anna_op.id}
            )
            assert status == 403 and "lead" in data["error"], (path, status, data)
        status, data, _ = await call(
            s,
            "POST",
            f"{backend.url}/api/bulk",
            {"action": "assign", "ids": [cid], "operator_id": anna_op.id},
        )
        assert status == 403
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {lea}"}) as s:
        status, data, _ = await call(
            s,
            "POST",
            f"{backend.url}/api/conversations/{cid}/reassign",
            {"operator_id": anna_op.id},
        )
        assert status == 200, data
        assert (await call(s, "POST", f"{backend.url}/api/conversations/{cid}/force-release", {}))[
            0
        ] == 200


async def test_another_operators_claim_refuses_every_conversation_action(backend):
    cid = await mention(backend, "p1")
    anna_op, anna = await backend.add_operator("anna")
    _, ben = await backend.add_operator("ben")
    routes = [(m, p) for m, p in api_routes(backend.app) if "{id}" in p]
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {anna}"}) as s:
        assert (await call(s, "POST", f"{backend.url}/api/conversations/{cid}/claim", {}))[0] == 200
        assert (
            await call(s, "POST", f"{backend.url}/api/conversations/{cid}/tags", {"tag": "parcel"})
        )[0] == 201
    before = await backend.pool.fetchval("SELECT count(*) FROM events")
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {ben}"}) as s:
        for method, path in routes:
            if (method, path) in OPEN_TO_OTHERS:
                continue
            status, data, _ = await call(
                s,
                method,
                backend.url + path.format(id=cid, tag="parcel"),
                body_for(path, reassign={"operator_id": anna_op.id}),
            )
            # Claiming (or renewing a claim on) a held conversation is a lost race: 409 naming the
            # holder. Anything else is forbidden: 403.
            conflict = path.endswith(("/claim", "/heartbeat"))
            assert status == (409 if conflict else 403), (method, path, status, data)
            if (method, path) not in LEAD_ONLY:
                assert "Anna" in data["error"], (path, data)
        status, data, _ = await call(s, "GET", f"{backend.url}/api/conversations/{cid}", {})
        assert status == 200 and data["holder"]["name"] == "Anna"
    row = await backend.pool.fetchrow(
        "SELECT state, claimed_by FROM conversations WHERE id = $1", cid
    )
    assert (row["state"], row["claimed_by"]) == ("claimed", anna_op.id)
    assert await backend.pool.fetchval("SELECT count(*) FROM messages") == 0
    assert await backend.pool.fetchval("SELECT count(*) FROM events") == before
    # The annotations another operator may make go on record under their own name.
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {ben}"}) as s:
        for method, path in sorted(OPEN_TO_OTHERS - {("GET", "/api/conversations/{id}")}):
            status, data, _ = await call(
                s, method, backend.url + path.format(id=cid, tag="parcel"), body_for(path)
            )
            assert status in (200, 201), (method, path, status, data)
    actors = await backend.pool.fetch(
        "SELECT DISTINCT o.name FROM events e JOIN operators o ON o.id = e.operator_id WHERE e.id > $1",
        before,
    )
    assert [r["name"] for r in actors] == ["ben"]
    assert (
        await backend.pool.fetchval("SELECT claimed_by FROM conversations WHERE id = $1", cid)
        == anna_op.id
    )


async def test_tokens_and_secrets_never_reach_logs_events_or_error_bodies(config, db_url, caplog):
    secret = "whsec-very-secret-value-1234"
    webhook = config.webhook.model_copy(
        update={"sources": {"partner": "SHIFTDESK_WEBHOOK_PARTNER_SECRET"}}
    )
    cfg = config.model_copy(update={"webhook": webhook})
    caplog.set_level(logging.DEBUG)
    backend = await start_backend(cfg, db_url, env={"SHIFTDESK_WEBHOOK_PARTNER_SECRET": secret})
    try:
        cid = await mention(backend, "p1")
        _, anna = await backend.add_operator("anna")
        _, gone = await backend.add_operator("gone")
        await operators.revoke(backend.pool, "gone")
        bodies: list[str] = []
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {anna}"}) as s:
            for method, path, body in [
                ("POST", f"/api/conversations/{cid}/claim", {}),
                (
                    "POST",
                    f"/api/conversations/{cid}/reply",
                    {"text": f"my token is {anna}"},
                ),  # personal-data check?
                ("POST", f"/api/conversations/{cid}/notes", {"text": "fine"}),
                ("POST", "/api/conversations/999999/claim", {}),
            ]:
                bodies.append((await call(s, method, backend.url + path, body))[2])
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {gone}"}) as s:
            bodies.append((await call(s, "GET", backend.url + "/api/me", {}))[2])
        async with aiohttp.ClientSession() as s:
            payload = b'{"id": "1"}'
            for headers in (
                {TIMESTAMP_HEADER: "1", SIGNATURE_HEADER: sign("wrong", "1", payload)},
                {
                    TIMESTAMP_HEADER: str(int(backend.app[CLOCK].now().timestamp())),
                    SIGNATURE_HEADER: sign("wrong", "1", payload),
                },
            ):
                async with s.post(
                    backend.url + "/ingest/partner",
                    data=payload,
                    headers={"Content-Type": "application/json", **headers},
                ) as r:
                    assert r.status == 401
                    bodies.append(await r.text())
        events = "\n".join(
            r["d"]
            for r in await backend.pool.fetch("SELECT row_to_json(e)::text AS d FROM events e")
        )
        # The reply above quoted Anna's token as text; only that message may hold it.
        for text in bodies[:1] + bodies[2:] + [caplog.text]:
            assert anna not in text
        for text in bodies + [caplog.text, events]:
            assert secret not in text and gone not in text
        assert "whsec" not in caplog.text
        stored = await backend.pool.fetch("SELECT token_hash FROM operators")
        assert all(
            isinstance(r["token_hash"], bytes) and len(r["token_hash"]) == 32 for r in stored
        )
        assert anna.encode() not in b"".join(r["token_hash"] for r in stored)
    finally:
        await backend.runner.cleanup()


def test_webhook_signatures_are_compared_in_constant_time_within_a_window():
    source = (ROOT / "backend" / "connectors" / "webhook.py").read_text()
    tree = ast.parse(source)
    # The headers are checked before the body is read (check_headers), the HMAC after (check_body).
    functions = {
        n.name: n
        for n in ast.walk(tree)
        if isinstance(n, ast.FunctionDef) and n.name in ("verify", "check_headers", "check_body")
    }
    calls = {
        ast.unparse(n.func) for n in ast.walk(functions["check_body"]) if isinstance(n, ast.Call)
    }
    assert "hmac.compare_digest" in calls
    compares = [
        n
        for f in functions.values()
        for n in ast.walk(f)
        if isinstance(n, ast.Compare)
        and any(isinstance(op, (ast.Eq, ast.NotEq)) for op in n.ops)
        and any(
            "signature" in ast.unparse(side) or "expected" in ast.unparse(side)
            for side in [n.left, *n.comparators]
        )
    ]
    assert not compares, "signature compared with == (timing leak)"


# Every SQL statement whose text is not a literal (or a module-level string constant), with
# what it interpolates. Each was reviewed: the pieces are module constants or picked from
# fixed tables by a checked key, never request data. A new one fails here until someone
# checks it and adds it.
REVIEWED_SQL = {
    ("backend/conversations/actions.py", "_apply"): {
        "sla_sql",
        "extra_sql",
    },  # fixed fragments chosen by the lifecycle
    ("backend/cli.py", "_demo"): {"name"},  # demo database name, generated
    # which claims go back: a fixed condition from expire_leases or release_claims_of
    ("backend/conversations/actions.py", "_return_claims"): {"which"},
    # the message and its outbox row: a module constant of the outbox, literal SQL
    ("backend/conversations/actions.py", "_queue_message"): {"<Attribute: outbox.QUEUE_MESSAGE>"},
    # the saved filters' totals: FILTERS' fixed conditions, summed from the maintained counts
    ("backend/conversations/queue.py", "filter_totals"): {"_COUNTED_SQL"},
    # a capped count of a query built by condition()/keyset_ids() (values bound as $n) and
    # the module's own cap
    ("backend/conversations/queue.py", "_capped_count"): {"sql_text", "COUNT_CAP + 1"},
    # one of two module constants, chosen by the sign of the configured threshold
    ("backend/handover/queries.py", "collect"): {
        "<IfExp: NEGATIVE_TEXTS if negative_below <= 0 else NEGATIVE_TEXTS_AB>"
    },
    # the search's sample and matches: module constants of fixed index expressions; the words
    # are bound
    ("backend/conversations/search.py", "prepare"): {"_HITS", "_SAMPLED"},
    # a period's mention counts: hours.count_sql() of fixed pieces, the times bound as $n
    ("backend/handover/queries.py", "mention_counts"): {"sql"},
    ("backend/db/embedded.py", "ensure_database"): {"sql"},  # CREATE DATABASE of a configured name
    ("backend/db/migrate.py", "migrate"): {"sql"},  # the migration files' own text
    ("backend/conversations/queue.py", "page"): {
        "cond",
        "order",
        "ids",  # the page's ids: keyset_ids() or an OFFSET query, values bound through Params
    },  # FILTERS[key], ORDER/REVERSE
}
SQL_METHODS = {"execute", "executemany", "fetch", "fetchrow", "fetchval", "copy_records_to_table"}


def _shared_piece(value: ast.expr) -> bool:
    """`sql.NAME` or `sql.f('literal', ...)`: a piece of backend/conversations/sql.py, which
    spells state sets from the lifecycle's own enum and fixed column names, never input."""
    if isinstance(value, ast.Attribute):
        return isinstance(value.value, ast.Name) and value.value.id == "sql"
    if isinstance(value, ast.Call):
        return _shared_piece(value.func) and all(
            isinstance(a, ast.Constant) or _shared_piece(a) for a in value.args
        )
    return False


def _module_constants(tree: ast.Module) -> set[str]:
    """Module-level names bound once to string literals (or f-strings of such names and of
    the shared SQL pieces)."""
    consts: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            value = node.value
            literal = (isinstance(value, ast.Constant) and isinstance(value.value, str)) or (
                isinstance(value, ast.JoinedStr)
                and all(
                    isinstance(v, ast.Constant)
                    or (
                        isinstance(v, ast.FormattedValue)
                        and (
                            (isinstance(v.value, ast.Name) and v.value.id in consts)
                            or _shared_piece(v.value)
                        )
                    )
                    for v in value.values
                )
            )
            if literal:
                consts |= {t.id for t in targets if isinstance(t, ast.Name)}
    return consts


def sql_sites() -> dict[tuple[str, str], set[str]]:
    found: dict[tuple[str, str], set[str]] = {}
    for path in sorted((ROOT / "backend").rglob("*.py")):
        tree = ast.parse(path.read_text())
        consts = _module_constants(tree)
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if not (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr in SQL_METHODS
                    and node.args
                ):
                    continue
                sql = node.args[0]
                if isinstance(sql, ast.Constant):
                    continue
                if isinstance(sql, ast.JoinedStr):
                    parts = {
                        ast.unparse(v.value)
                        for v in sql.values
                        if isinstance(v, ast.FormattedValue) and not _shared_piece(v.value)
                    }
                elif isinstance(sql, ast.Name):
                    parts = {sql.id}
                else:  # .format(), %, + on SQL text: never acceptable
                    parts = {f"<{type(sql).__name__}: {ast.unparse(sql)[:60]}>"}
                parts -= consts
                if parts:
                    found.setdefault((str(path.relative_to(ROOT)), fn.name), set()).update(parts)
    return found


def test_sql_is_parameterised_and_every_interpolation_was_reviewed():
    found = sql_sites()
    unreviewed = {
        k: v - REVIEWED_SQL.get(k, set())
        for k, v in found.items()
        if v - REVIEWED_SQL.get(k, set())
    }
    assert not unreviewed, (
        f"SQL built from non-literal text; check it carries no request data: {unreviewed}"
    )
    # The static check sees what it should: a call built with .format() is caught.
    sample = ast.parse('async def f(conn, x):\n    await conn.execute("SELECT {}".format(x))\n')
    call = next(
        n
        for n in ast.walk(sample)
        if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "execute"
    )
    assert not isinstance(call.args[0], (ast.Constant, ast.JoinedStr, ast.Name))


def test_no_request_value_is_formatted_into_sql_text():
    # Request data reaches handlers as request.query / match_info / read_json(); none of those
    # names may appear inside an f-string that is passed to the database.
    for (path, fn), parts in sql_sites().items():
        for part in parts:
            assert not re.search(r"request|query|match_info|body\b", part), (path, fn, part)


async def test_repeated_bad_tokens_from_one_address_are_slowed_down_and_logged_without_the_token(
    backend, caplog
):
    guard = backend.app[AUTH_GUARD]
    _, good = await backend.add_operator("anna")
    guesses = [f"sd_guess-{i:04d}" for i in range(guard.limit + 3)]
    statuses = []
    with caplog.at_level(logging.INFO):
        for guess in guesses:
            async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {guess}"}) as s:
                async with s.get(f"{backend.url}/api/me") as r:
                    statuses.append(r.status)
                    if r.status == 429:
                        retry = int(r.headers["Retry-After"])
                        assert retry >= 1 and "try again in" in (await r.json())["error"]
    # The first `limit` are looked up and refused; past that the address waits, doubling each time.
    assert statuses[: guard.limit] == [401] * guard.limit
    assert statuses[guard.limit :] == [429] * 3
    # While it waits, even a good token from that address is not looked at.
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {good}"}) as s:
        async with s.get(f"{backend.url}/api/me") as r:
            assert r.status == 429 and int(r.headers["Retry-After"]) >= 1
    warnings = [r.getMessage() for r in caplog.records if "bad operator tokens" in r.getMessage()]
    assert warnings and "127.0.0.1" in warnings[0]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert not any(guess in logged for guess in guesses) and good not in logged
    # When the delay has passed (the guard's clock moved on), the address is heard again.
    later = guard.now() + guard.max_delay_s + guard.window_s
    guard.now = lambda: later
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {good}"}) as s:
        async with s.get(f"{backend.url}/api/me") as r:
            assert r.status == 200


def test_the_guard_doubles_its_delay_and_forgets_old_addresses_first():
    from backend.web.guard import AuthGuard

    t = [0.0]
    guard = AuthGuard(limit=3, max_addresses=2, now=lambda: t[0])
    for _ in range(3):
        guard.refused("10.0.0.1")
    assert guard.retry_after("10.0.0.1") == 1
    guard.refused("10.0.0.1")
    assert guard.retry_after("10.0.0.1") == 2
    guard.refused("10.0.0.1")
    assert guard.retry_after("10.0.0.1") == 4
    t[0] = 61.0  # the minute has passed: the old failures no longer count
    assert guard.retry_after("10.0.0.1") is None
    guard.refused("10.0.0.1")
    assert guard.retry_after("10.0.0.1") is None
    guard.refused("10.0.0.2")
    guard.refused("10.0.0.3")  # a third address: the least recently seen one is forgotten
    assert "10.0.0.1" not in guard._seen and len(guard._seen) == 2
