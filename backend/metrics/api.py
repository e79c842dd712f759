"""GET /metrics: Prometheus text, computed per scrape from the database.

Every backend reports the same numbers (they come from the shared database,
except connected operators, which every backend hears through presence), so a
scraper may ask any of them. Only aggregate counts leave: no handles, no text,
no operator names. Without `metrics.token_env` the endpoint is open, like
/healthz (bind the backend to a private network); with it, scrapers send
`Authorization: Bearer <token>` from that environment variable.
"""

from __future__ import annotations

import hmac

from aiohttp import web

from backend.conversations import queue
from backend.i18n import say
from backend.live.hub import HUB
from backend.metrics import exposition as metrics
from backend.web.errors import ApiError
from backend.web.keys import CONFIG, ENV, POOL

# First-response buckets in seconds: one minute up to a day, around the SLA targets.
FIRST_RESPONSE_BUCKETS = (60, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400)

# Every figure is a maintained tally or an indexed count of a small set: computed
# per scrape with group-bys over conversations and mentions, a scrape took 1.0 s
# at a million open conversations (and held a core while it did).
TALLIES = """
    SELECT metric, label, sum(n)::bigint AS n, sum(total)::float8 AS total FROM (
        SELECT metric, label, n, total FROM tallies
        UNION ALL SELECT metric, label, n, total FROM tally_deltas) t
    GROUP BY metric, label
"""
OUTBOX = """
    SELECT (SELECT count(*) FROM outbox WHERE done_at IS NULL) AS backlog,
           (SELECT count(*) FROM messages WHERE status = 'failed') AS failed
"""
CRISIS = "SELECT count(*) FROM crises WHERE ended_at IS NULL"


def first_response_buckets(minutes: dict[str, tuple[int, float]]) -> tuple[list[int], float]:
    """Per-bucket counts (the last one +Inf) and the seconds summed, from first responses
    tallied by whole minute (label "m": m-1 minutes < took <= m minutes; "1441": over a day).
    Every bucket bound is a whole number of minutes, so the minute tally answers it exactly."""
    assert all(b % 60 == 0 for b in FIRST_RESPONSE_BUCKETS)
    per_bucket = [0] * (len(FIRST_RESPONSE_BUCKETS) + 1)
    total = 0.0
    for label, (n, seconds) in minutes.items():
        minute = int(label)
        index = next(
            (i for i, b in enumerate(FIRST_RESPONSE_BUCKETS) if minute <= b // 60),
            len(FIRST_RESPONSE_BUCKETS),
        )
        per_bucket[index] += n
        total += seconds
    return per_bucket, total


def _authorised(request: web.Request) -> None:
    var = request.app[CONFIG].metrics.token_env
    if not var:
        return
    expected = request.app[ENV].get(var, "")
    if not expected:
        raise ApiError(
            503,
            say(
                "metrics.token_unset",
                "metrics.token_env names {variable}, which is not set in the backend's environment.",
                variable=var,
            ),
        )
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        token.strip().encode(), expected.encode()
    ):
        raise ApiError(
            401,
            say("metrics.no_token", "Send the metrics token as 'Authorization: Bearer <token>'."),
        )


async def families(app: web.Application) -> list[metrics.MetricFamily]:
    """Every metric, read now."""
    pool = app[POOL]
    await queue.fold_if_due(pool)
    depth = await queue.open_by_state_and_priority(pool)
    tallies: dict[str, dict[str, tuple[int, float]]] = {}
    for r in await pool.fetch(TALLIES):
        tallies.setdefault(r["metric"], {})[r["label"]] = (r["n"], r["total"])
    per_bucket, total = first_response_buckets(tallies.get("first_response", {}))
    breaches = sorted((int(k), v[0]) for k, v in tallies.get("breaches", {}).items() if v[0])
    mentions = sorted((k, v[0]) for k, v in tallies.get("mentions", {}).items() if v[0])
    outbox = await pool.fetchrow(OUTBOX)
    crisis = await pool.fetchval(CRISIS)
    return [
        metrics.gauge(
            "shiftdesk_queue_depth",
            "Open conversations by state and priority.",
            [({"state": state, "priority": f"P{priority}"}, n) for state, priority, n in depth],
        ),
        metrics.histogram_counts(
            "shiftdesk_first_response_seconds",
            "Time from a conversation's first mention to our first reply.",
            FIRST_RESPONSE_BUCKETS,
            [({}, per_bucket, total)],
        ),
        metrics.counter(
            "shiftdesk_sla_breaches_total",
            "SLA breaches by priority.",
            [({"priority": f"P{p}"}, n) for p, n in breaches],
        ),
        metrics.counter(
            "shiftdesk_mentions_ingested_total",
            "Customer mentions stored, by platform.",
            [({"platform": p}, n) for p, n in mentions],
        ),
        metrics.gauge(
            "shiftdesk_outbox_backlog",
            "Replies and DMs waiting to be published.",
            outbox["backlog"],
        ),
        metrics.counter(
            "shiftdesk_outbox_failures_total",
            "Messages that failed to publish for good.",
            outbox["failed"],
        ),
        metrics.gauge(
            "shiftdesk_operators_connected",
            "Operators with a console open.",
            len(app[HUB].online()),
        ),
        metrics.gauge(
            "shiftdesk_crisis_active", "1 while a crisis is declared.", 1 if crisis else 0
        ),
    ]


async def metrics_endpoint(request: web.Request) -> web.Response:
    _authorised(request)
    body = metrics.render(await families(request.app))
    return web.Response(body=body.encode(), headers={"Content-Type": metrics.CONTENT_TYPE})
