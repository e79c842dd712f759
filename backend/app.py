"""The backend's aiohttp application: the domains wired together, routes in one place.

Shared state is held under typed keys (`web.AppKey`), each declared by the
domain that owns it; handlers ask the app for just what they use.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import timedelta

import asyncpg
from aiohttp import web

from backend.clock import Clock
from backend.config import Config
from backend.connectors.own import confirm_accounts
from backend.conversations import actions as actions_mod
from backend.conversations import api as conversations_api
from backend.conversations.actions import (
    ACTIONS,
    Actions,
    BadInput,
    ContentProblem,
    NotFound,
)
from backend.conversations.lifecycle import NotAllowed
from backend.conversations.queue import UnknownFilter
from backend.crisis import api as crisis_api
from backend.crisis.watch import CRISIS_WATCH, CrisisWatch
from backend.db.pool import create_pool
from backend.handover import api as handover_api
from backend.i18n import say
from backend.ingest import webhook
from backend.ingest.leader import lead
from backend.ingest.pollers import CONNECTORS, POLLERS, PollerStatus, build_connectors, supervise
from backend.ingest.rules_watch import RulesWatcher
from backend.ingest.store import INGEST, Ingest, Processor, make_processor
from backend.ingest.worker import ListeningWorker
from backend.live import api as live_api
from backend.live.hub import HUB, EventHub
from backend.metrics import api as metrics_api
from backend.operators import authenticate
from backend.outbox import OUTBOX, OutboxPublisher, Publisher
from backend.rulebook import RULES, LiveRules, Rulebook, load_rulebook
from backend.simulator.scenarios import SIMULATED, SimulatedPlatform, Simulator, opening_delay
from backend.sla.clock import SLA_CLOCK, SlaClock
from backend.sla.policy import policy_deadlines
from backend.web.errors import (
    DATABASE_DOWN,
    DATABASE_RETRY_AFTER,
    ApiError,
    http_reason,
    json_error,
)
from backend.web.guard import AUTH_GUARD, AuthGuard
from backend.web.keys import CLOCK, CONFIG, ENV, OPERATOR, POOL, language_of
from backend.web.request import query_problem

log = logging.getLogger(__name__)

# The background tasks this app started (empty when built with background=False).
TASKS = web.AppKey("background_tasks", list[asyncio.Task])

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every refusal becomes JSON with a sentence a person understands; nothing a client sent is a 500."""
    try:
        return await handler(request)
    except ApiError as exc:
        response = json_error(exc.status, exc.text, language_of(request), **exc.extra)
        if exc.retry_after is not None:
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except NotAllowed as exc:
        holder = {"id": exc.holder.operator_id, "name": exc.holder.name} if exc.holder else None
        return json_error(
            exc.status, exc.text, language_of(request), state=exc.state.value, holder=holder
        )
    except NotFound as exc:
        return json_error(404, exc.text, language_of(request))
    except BadInput as exc:
        return json_error(exc.status, exc.text, language_of(request))
    except ContentProblem as exc:
        return json_error(
            exc.status,
            exc.text,
            language_of(request),
            findings=[f.to_dict(language_of(request)) for f in exc.findings],
            needs_confirmation=exc.status == 409,
        )
    except UnknownFilter as exc:
        return json_error(400, exc.text, language_of(request))
    except web.HTTPException as exc:
        if exc.empty_body or exc.content_type != "application/json":
            return json_error(exc.status, http_reason(exc.status, exc.reason), language_of(request))
        raise
    except asyncio.CancelledError:
        raise
    except DATABASE_DOWN as exc:
        log.warning("database unavailable for %s %s: %s", request.method, request.path, exc)
        response = json_error(
            503,
            say(
                "server.database_down",
                "The database is not reachable right now; try again in a moment.",
            ),
            language_of(request),
        )
        response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER)
        return response
    except Exception:
        log.exception("unexpected error in %s %s", request.method, request.path)
        return json_error(
            500,
            say("server.error", "Something went wrong on the server; it has been logged."),
            language_of(request),
        )


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Everything under /api/ needs an operator token; /ingest and /metrics check their own."""
    if request.path.startswith("/api/"):
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(
                401,
                say(
                    "auth.no_token",
                    "Sign in: send your operator token as 'Authorization: Bearer <token>'.",
                ),
            )
        guard = request.app[AUTH_GUARD]
        address = request.remote or "unknown"
        wait = guard.retry_after(address)
        if wait is not None:
            # Not even looked up: guessing tokens from here costs the guesser time, not us.
            raise ApiError(
                429,
                say(
                    "auth.too_many_tries",
                    "Too many invalid operator tokens from your address; try again in {wait} s.",
                    wait=wait,
                ),
                retry_after=wait,
            )
        op = await authenticate(request.app[POOL], token.strip())
        if op is None:
            guard.refused(address)
            raise ApiError(
                401,
                say("auth.bad_token", "That operator token is not valid (unknown or revoked)."),
            )
        request[OPERATOR] = op
    # A NUL or a lone surrogate in a query parameter would reach PostgreSQL and fail there (a 500).
    problem = query_problem(request)
    if problem is not None:
        raise ApiError(400, problem)
    return await handler(request)


async def healthz(request: web.Request) -> web.Response:
    try:
        await request.app[POOL].fetchval("SELECT 1")
        db = True
    except Exception:  # noqa: BLE001 - health reports, never raises
        db = False
    listening = request.app[HUB].connected.is_set()
    ok = db and (listening or not request.app[TASKS])
    return web.json_response(
        {"ok": ok, "database": db, "listening": listening}, status=200 if ok else 503
    )


def setup_routes(app: web.Application) -> None:
    """Every route of the backend, in one place."""
    c = conversations_api
    r = app.router
    r.add_get("/healthz", healthz)
    r.add_get("/metrics", metrics_api.metrics_endpoint)  # counts only; token optional
    r.add_post(
        "/ingest/{source}", webhook.ingest_webhook
    )  # signed by the source, no operator token
    r.add_get("/api/me", live_api.me)
    r.add_patch("/api/me", live_api.me_update)
    r.add_get("/api/summary", live_api.summary)
    r.add_get("/api/operators", live_api.operators_list)
    r.add_post("/api/presence", live_api.presence)
    r.add_post("/api/sign-out", live_api.sign_out)
    r.add_get("/api/events", live_api.events_page)
    r.add_get("/api/stream", live_api.stream)
    r.add_get("/api/templates", c.templates)
    r.add_get("/api/queue", c.queue_page)
    r.add_post("/api/claim-next", c.claim_next)
    r.add_post("/api/advise", c.advise)
    r.add_post("/api/bulk", c.bulk)
    r.add_get("/api/conversations/{id}", c.conversation)
    r.add_get("/api/conversations/{id}/house-rules", c.house_rules_text)
    for action, handler in (
        ("claim", c.claim),
        ("release", c.release),
        ("heartbeat", c.heartbeat),
        ("reply", c.reply),
        ("move-to-dm", c.move_to_dm),
        ("dm", c.dm),
        ("resolve", c.resolve),
        ("house-rules", c.house_rules),
        ("dismiss", c.dismiss),
        ("escalate", c.escalate),
        ("notes", c.add_note),
        ("tags", c.add_tag),
        ("reassign", c.reassign),
        ("force-release", c.force_release),
    ):
        r.add_post(f"/api/conversations/{{id}}/{action}", handler)
    r.add_delete("/api/conversations/{id}/tags/{tag}", c.remove_tag)
    r.add_get("/api/crisis/groups", crisis_api.crisis_groups)
    r.add_post("/api/crisis/holding-statement", crisis_api.holding_statement)
    r.add_post("/api/shift/start", handover_api.shift_start)
    r.add_post("/api/shift/end", handover_api.shift_end)
    r.add_get("/api/handover", handover_api.handover_get)
    r.add_get("/api/handover/latest", handover_api.handover_latest)


def route_table(app: web.Application) -> list[tuple[str, str]]:
    """(method, path) of every route, for the OpenAPI consistency test."""
    out = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if route.method != "HEAD" and path:
            out.append((route.method, path))
    return out


async def stop_tasks(tasks: list[asyncio.Task], rounds: int = 100) -> None:
    """Cancel background tasks and wait until they have stopped.

    On Python 3.11, asyncio.wait_for can swallow a cancellation that arrives as
    the awaited event fires (the SLA clock, crisis watch and outbox loops wait
    that way), and the loop carries on; awaiting such a task hung shutdown for
    good. So a task still running is cancelled again until it stops.
    """
    pending = set(tasks)
    for task in pending:
        task.cancel()
    for _ in range(rounds):
        if not pending:
            break
        _, pending = await asyncio.wait(pending, timeout=0.05)
        for task in pending:
            task.cancel()
    for task in tasks:
        if task.done() and not task.cancelled():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                task.result()
    if pending:
        log.warning("background tasks did not stop: %s", ", ".join(t.get_name() for t in pending))


async def _reap_leases(app: web.Application) -> None:
    pool, clock = app[POOL], app[CLOCK]
    while True:
        try:
            async with pool.acquire() as conn:
                await actions_mod.expire_leases(conn, clock.now())
        except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as exc:
            log.warning("lease reaper: database unavailable (%s)", exc)
        await asyncio.sleep(app[CONFIG].claims.reap_interval_seconds)


async def _run_simulator(app: web.Application) -> None:
    """Feed the simulator's mentions through ingest, its cursor stored with them."""
    config, pool, ingest = app[CONFIG], app[POOL], app[INGEST]
    cfg = config.simulator
    name = f"simulator:{cfg.scenario}:{cfg.seed}"
    sim = Simulator(cfg.scenario, cfg.seed, app[CLOCK], config.brand.handle, config.brand.name)
    async with pool.acquire() as conn:
        cursor = (
            await conn.fetchval("SELECT cursor FROM connector_state WHERE connector = $1", name)
            or {}
        )
    sim.skip_to(int(cursor.get("sequence", 0)))
    rng = random.Random(cfg.seed)
    if sim.sequence < cfg.burst:
        posts = list(sim.posts(cfg.burst - sim.sequence))
        await ingest.store_from(pool, posts, (name, {"sequence": sim.sequence}))
    while cfg.rate > 0:
        await asyncio.sleep(opening_delay(cfg.rate, rng).total_seconds())
        posts = list(sim.posts(1))
        try:
            await ingest.store_from(pool, posts, (name, {"sequence": sim.sequence}))
        except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as exc:
            log.warning("simulator: database unavailable (%s)", exc)
            sim.sequence -= 1  # not stored: the cursor stays, the post comes again


def _follow_rules(
    ingest: Ingest, config: Config, fixed_processor: bool
) -> Callable[[Rulebook], None]:
    """What ingest keeps in step with the rules: its processor, deadlines and worker."""

    def follow(rulebook: Rulebook) -> None:
        if not fixed_processor:
            ingest.process = make_processor(rulebook)
        ingest.deadlines = policy_deadlines(rulebook.sla)
        old = ingest.worker
        if isinstance(old, ListeningWorker):
            # The worker reads the rules itself: a new one reads the new files
            # (already checked by the load that gave us `rulebook`).
            ingest.worker = ListeningWorker(config.rules_dir, validate=False)
            old.close(wait=False)

    return follow


def init_app(
    config: Config,
    db_url: str,
    *,
    clock: Clock | None = None,
    publishers: dict[str, Publisher] | None = None,
    processor: Processor | None = None,
    rulebook: Rulebook | None = None,
    background: bool = True,
    env: Mapping[str, str] | None = None,
) -> web.Application:
    """Build the backend application; `db_url` must point at a migrated database.

    Tokens and webhook secrets are read from `env` (default: os.environ) by the
    variable names config gives; a missing one raises FileErrors naming the key.
    """
    clock = clock or Clock()
    app = web.Application(middlewares=[error_middleware, auth_middleware], client_max_size=1024**2)
    app[CONFIG] = config
    app[CLOCK] = clock
    app[ENV] = os.environ if env is None else env
    app[TASKS] = []
    app[webhook.READ_GATE] = webhook.ReadGate()
    app[AUTH_GUARD] = AuthGuard()

    simulated = app[SIMULATED] = SimulatedPlatform(
        clock, config.simulator.publish_failure_rate, config.simulator.seed
    )
    connectors = app[CONNECTORS] = build_connectors(config, clock, env)
    app[POLLERS] = {}
    # Each enabled connector also publishes our replies and DMs on its platform.
    own = {connector.platform: connector for _, connector in connectors.values()}
    every_publisher: dict[str, Publisher] = {"simulator": simulated, **own, **(publishers or {})}

    rules = app[RULES] = LiveRules(rulebook or load_rulebook(config.rules_dir))
    ingest = app[INGEST] = Ingest(
        processor or make_processor(rules.current), policy_deadlines(rules.current.sla), clock
    )
    ingest.owner_first = timedelta(seconds=config.claims.owner_first_seconds)
    if processor is None and rulebook is None and config.ingest.listening_worker:
        # The worker reads config.rules_dir itself: only when that is where our rules came from.
        ingest.worker = ListeningWorker(config.rules_dir, validate=False)
        ingest.worker_min_batch = config.ingest.worker_min_batch
    rules.on_change(_follow_rules(ingest, config, fixed_processor=processor is not None))
    app[ACTIONS] = Actions(
        clock,
        timedelta(seconds=config.claims.lease_seconds),
        timedelta(seconds=config.claims.waiting_lease_seconds),
        checks=lambda: rules.current.checks,
        templates=lambda: rules.current.templates,
        deadlines=lambda: ingest.deadlines,
    )

    async def close_listening_worker(app: web.Application) -> AsyncIterator[None]:
        yield
        if isinstance(ingest.worker, ListeningWorker):
            await asyncio.to_thread(ingest.worker.close)

    async def close_connectors(app: web.Application) -> AsyncIterator[None]:
        yield  # closed last, after the pollers stop
        for _, connector in connectors.values():
            await connector.close()

    async def database(app: web.Application) -> AsyncIterator[None]:
        pool = app[POOL] = await create_pool(
            db_url, config.database.pool_min, config.database.pool_max
        )
        app[HUB] = EventHub(db_url, pool)
        yield
        await pool.close()

    async def outbox(app: web.Application) -> AsyncIterator[None]:
        publisher = app[OUTBOX] = OutboxPublisher(
            app[POOL],
            every_publisher,
            clock,
            config.outbox.max_attempts,
            config.outbox.backoff_base_seconds,
            config.outbox.backoff_cap_seconds,
            window=config.outbox.window,
        )
        app[HUB].on_event(lambda e: publisher.wake.set() if e["kind"] == "message.queued" else None)
        yield

    async def watches(app: web.Application) -> AsyncIterator[None]:
        """The SLA clock and the crisis watch, woken by every event this backend sees."""
        hub = app[HUB]
        sla_clock = app[SLA_CLOCK] = SlaClock(app[POOL], clock)
        crisis_watch = app[CRISIS_WATCH] = CrisisWatch(
            app[POOL], clock, config.crisis, ignore=(config.brand.name, config.brand.handle)
        )
        hub.on_event(sla_clock.on_event)
        hub.on_event(crisis_watch.on_event)
        hub.crisis = await crisis_watch.open_crisis()
        yield

    async def run_in_background(app: web.Application) -> AsyncIterator[None]:
        tasks, pool = app[TASKS], app[POOL]
        if connectors:
            # Our account by its platform identity: a token for another account stops start-up.
            await confirm_accounts(connectors, rules.current.listener.rules.listening.accounts)

        def start(coro: Awaitable[None], name: str) -> None:
            tasks.append(asyncio.create_task(coro, name=name))  # type: ignore[arg-type]  # coroutines

        start(app[HUB].run(), "event-hub")
        start(app[OUTBOX].run(config.outbox.poll_interval_seconds), "outbox")
        start(_reap_leases(app), "lease-reaper")
        start(app[SLA_CLOCK].run(), "sla-clock")
        start(app[CRISIS_WATCH].run(), "crisis-watch")
        if config.simulator.enabled:
            start(_run_simulator(app), "simulator")
        start(RulesWatcher(config.rules_dir, pool, rules.use).run(), "rules-watcher")
        for name, (settings, connector) in connectors.items():
            status = app[POLLERS][name] = PollerStatus(settings.cursor_name, connector.platform)
            # Only the backend elected for this account polls or streams it.
            work = functools.partial(supervise, connector, settings, pool, ingest, clock, status)
            start(lead(db_url, status.leadership, work), f"poller-{name}")
        yield
        await stop_tasks(tasks)
        tasks.clear()

    # Cleanup runs in reverse: the worker and connectors close after everything else.
    app.cleanup_ctx.extend([close_listening_worker, close_connectors, database, outbox, watches])
    if background:
        app.cleanup_ctx.append(run_in_background)
    setup_routes(app)
    return app
