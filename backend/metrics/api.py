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

from backend.conversations import sql
from backend.live.hub import HUB
from backend.metrics import exposition as metrics
from backend.web.errors import ApiError
from backend.web.keys import CONFIG, ENV, POOL

# First-response buckets in seconds: one minute up to a day, around the SLA targets.
FIRST_RESPONSE_BUCKETS = (60, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400)

QUEUE_DEPTH = f"""
    SELECT c.state, c.priority, count(*) AS n FROM conversations c
    WHERE {sql.NOT_CLOSED} GROUP BY c.state, c.priority ORDER BY c.state, c.priority
"""
FIRST_RESPONSE = """
    WITH t AS (SELECT greatest(extract(epoch FROM first_response_at - first_inbound_at), 0) AS s
               FROM conversations WHERE first_response_at IS NOT NULL)
    SELECT (SELECT coalesce(sum(s), 0) FROM t)::float8 AS total,
           (SELECT count(*) FROM t) AS n,
           ARRAY(SELECT (SELECT count(*) FROM t WHERE s <= b) FROM unnest($1::float8[]) WITH ORDINALITY AS u(b, i)
                 ORDER BY i) AS cumulative
"""
BREACHES = "SELECT priority, count(*) AS n FROM sla_breaches GROUP BY priority ORDER BY priority"
MENTIONS = "SELECT platform, count(*) AS n FROM mentions WHERE NOT is_ours GROUP BY platform ORDER BY platform"
OUTBOX = """
    SELECT (SELECT count(*) FROM outbox WHERE done_at IS NULL) AS backlog,
           (SELECT count(*) FROM messages WHERE status = 'failed') AS failed
"""
CRISIS = "SELECT count(*) FROM crises WHERE ended_at IS NULL"


def _authorised(request: web.Request) -> None:
    var = request.app[CONFIG].metrics.token_env
    if not var:
        return
    expected = request.app[ENV].get(var, "")
    if not expected:
        raise ApiError(
            503, f"metrics.token_env names {var}, which is not set in the backend's environment."
        )
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        token.strip().encode(), expected.encode()
    ):
        raise ApiError(401, "Send the metrics token as 'Authorization: Bearer <token>'.")


async def families(app: web.Application) -> list[metrics.MetricFamily]:
    """Every metric, read now."""
    pool = app[POOL]
    depth = await pool.fetch(QUEUE_DEPTH)
    fr = await pool.fetchrow(FIRST_RESPONSE, [float(b) for b in FIRST_RESPONSE_BUCKETS])
    cumulative = list(fr["cumulative"]) + [fr["n"]]
    per_bucket = [c - p for c, p in zip(cumulative, [0] + cumulative[:-1])]
    breaches = await pool.fetch(BREACHES)
    mentions = await pool.fetch(MENTIONS)
    outbox = await pool.fetchrow(OUTBOX)
    crisis = await pool.fetchval(CRISIS)
    return [
        metrics.gauge(
            "shiftdesk_queue_depth",
            "Open conversations by state and priority.",
            [({"state": r["state"], "priority": f"P{r['priority']}"}, r["n"]) for r in depth],
        ),
        metrics.histogram_counts(
            "shiftdesk_first_response_seconds",
            "Time from a conversation's first mention to our first reply.",
            FIRST_RESPONSE_BUCKETS,
            [({}, per_bucket, fr["total"])],
        ),
        metrics.counter(
            "shiftdesk_sla_breaches_total",
            "SLA breaches by priority.",
            [({"priority": f"P{r['priority']}"}, r["n"]) for r in breaches],
        ),
        metrics.counter(
            "shiftdesk_mentions_ingested_total",
            "Customer mentions stored, by platform.",
            [({"platform": r["platform"]}, r["n"]) for r in mentions],
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
