"""The backend's aiohttp application: operator API, event stream, background work."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import asyncpg
from aiohttp import web

from . import actions as actions_mod
from .actions import Actions, BadInput, ContentProblem, NotFound
from .clock import Clock
from .config import Config
from .connectors.own import confirm_accounts
from .db.pool import create_pool
from .fanout import EventHub
from .ingest import Ingest, Processor, accept_all, fixed_deadlines, policy_deadlines
from .lifecycle import NotAllowed
from .operators import Operator, authenticate
from .outbox import OutboxPublisher, Publisher
from .pipeline import ListeningWorker, Rulebook, load_rulebook, make_processor
from .pollers import PollerStatus, build_connectors, supervise
from .queue import UnknownFilter
from .rules_watch import RulesWatcher
from .simulator import SimulatedPlatform, Simulator, opening_delay

log = logging.getLogger(__name__)


@dataclass
class Services:
    """Everything handlers share; one per application."""

    config: Config
    db_url: str
    clock: Clock
    publishers: dict[str, Publisher]
    processor: Processor = accept_all
    rulebook: Rulebook | None = None
    pool: asyncpg.Pool | None = None
    hub: EventHub | None = None
    ingest: Ingest | None = None
    actions: Actions | None = None
    outbox: OutboxPublisher | None = None
    simulated: SimulatedPlatform | None = None
    tasks: list[asyncio.Task] = field(default_factory=list)
    connectors: dict[str, Any] = field(default_factory=dict)  # name -> (settings, connector)
    pollers: dict[str, PollerStatus] = field(
        default_factory=dict
    )  # name -> what its poller has done
    env: Mapping[str, str] | None = None  # where secrets are read (os.environ)
    crisis: dict[str, Any] | None = None  # the crisis under way, as the last crisis event said
    sla_clock: Any = None  # backend.sla_clock.SlaClock: warning and breach events
    crisis_watch: Any = None  # backend.crisis.CrisisWatch: declares crises and their ends

    def crisis_state(self) -> dict[str, Any]:
        return {"active": self.crisis is not None, "since": (self.crisis or {}).get("since")}

    def _follow_events(self, event: dict[str, Any]) -> None:
        """Things this backend keeps in step with the event stream."""
        if event["kind"] == "message.queued" and self.outbox is not None:
            self.outbox.wake.set()
        elif event["kind"] == "crisis.started":
            self.crisis = {"since": event["at"], **event["data"]}
        elif event["kind"] == "crisis.ended":
            self.crisis = None

    def use_rulebook(self, rulebook: Rulebook) -> None:
        """Switch every consumer to a newly loaded set of rules."""
        self.rulebook = rulebook
        self.processor = make_processor(rulebook)
        if self.ingest is not None:
            self.ingest.process = self.processor
            self.ingest.deadlines = policy_deadlines(rulebook.sla)
            old = self.ingest.worker
            if isinstance(old, ListeningWorker):
                # The worker reads the rules itself: a new one reads the new files
                # (already checked by the load that gave us `rulebook`).
                self.ingest.worker = ListeningWorker(self.config.rules_dir, validate=False)
                old.close(wait=False)


SERVICES = web.AppKey("services", Services)
OPERATOR = web.RequestKey("operator", Operator)  # the signed-in operator


class ApiError(Exception):
    """An error for the client: HTTP status and a sentence a person understands."""

    def __init__(self, status: int, message: str, **extra: Any):
        self.status = status
        self.message = message
        self.extra = extra
        super().__init__(message)


def json_error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


@web.middleware
async def error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
):
    try:
        return await handler(request)
    except ApiError as exc:
        return json_error(exc.status, exc.message, **exc.extra)
    except NotAllowed as exc:
        holder = {"id": exc.holder.operator_id, "name": exc.holder.name} if exc.holder else None
        return json_error(exc.status, exc.message, state=exc.state.value, holder=holder)
    except NotFound as exc:
        return json_error(404, str(exc))
    except BadInput as exc:
        return json_error(exc.status, exc.message)
    except ContentProblem as exc:
        return json_error(
            exc.status,
            exc.message,
            findings=[f.to_dict() for f in exc.findings],
            needs_confirmation=exc.status == 409,
        )
    except UnknownFilter as exc:
        return json_error(400, str(exc))
    except web.HTTPException as exc:
        if exc.empty_body or exc.content_type != "application/json":
            return json_error(exc.status, exc.reason)
        raise
    except asyncio.CancelledError:
        raise
    except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as exc:
        log.warning("database unavailable for %s %s: %s", request.method, request.path, exc)
        return json_error(503, "The database is not reachable right now; try again in a moment.")
    except Exception:
        log.exception("unexpected error in %s %s", request.method, request.path)
        return json_error(500, "Something went wrong on the server; it has been logged.")


PUBLIC_PATHS = ("/healthz",)


@web.middleware
async def auth_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
):
    if request.path.startswith("/api/"):
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(
                401, "Sign in: send your operator token as 'Authorization: Bearer <token>'."
            )
        op = await authenticate(request.app[SERVICES].pool, token.strip())
        if op is None:
            raise ApiError(401, "That operator token is not valid (unknown or revoked).")
        request[OPERATOR] = op
    return await handler(request)


def operator_of(request: web.Request) -> Operator:
    return request[OPERATOR]


async def read_json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"The request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    return body


async def _database(app: web.Application) -> AsyncIterator[None]:
    svc = app[SERVICES]
    cfg = svc.config
    svc.pool = await create_pool(svc.db_url, cfg.database.pool_min, cfg.database.pool_max)
    svc.hub = EventHub(svc.db_url, svc.pool)
    yield
    await svc.pool.close()


async def _background(app: web.Application) -> AsyncIterator[None]:
    svc = app[SERVICES]
    cfg = svc.config
    assert svc.pool is not None and svc.hub is not None
    if svc.connectors and svc.rulebook is not None:
        # Our account by its platform identity: a token for another account stops start-up.
        await confirm_accounts(svc.connectors, svc.rulebook.listener.rules.listening.accounts)
    svc.tasks.append(asyncio.create_task(svc.hub.run(), name="event-hub"))
    svc.tasks.append(
        asyncio.create_task(svc.outbox.run(cfg.outbox.poll_interval_seconds), name="outbox")
    )  # type: ignore[union-attr]
    svc.tasks.append(asyncio.create_task(_reap_leases(svc), name="lease-reaper"))
    svc.tasks.append(asyncio.create_task(svc.sla_clock.run(), name="sla-clock"))
    svc.tasks.append(asyncio.create_task(svc.crisis_watch.run(), name="crisis-watch"))
    if cfg.simulator.enabled:
        svc.tasks.append(asyncio.create_task(_run_simulator(svc), name="simulator"))
    if svc.rulebook is not None:
        watcher = RulesWatcher(cfg.rules_dir, svc.pool, svc.use_rulebook)
        svc.tasks.append(asyncio.create_task(watcher.run(), name="rules-watcher"))
    for name, (settings, connector) in svc.connectors.items():
        status = svc.pollers[name] = PollerStatus(settings.cursor_name, connector.platform)
        svc.tasks.append(
            asyncio.create_task(
                supervise(connector, settings, svc.pool, svc.ingest, svc.clock, status),  # type: ignore[arg-type]
                name=f"poller-{name}",
            )
        )
    yield
    await stop_tasks(svc.tasks)
    svc.tasks.clear()


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


async def _watches(app: web.Application) -> AsyncIterator[None]:
    """The SLA clock and the crisis watch, woken by every event this backend sees."""
    from .crisis import CrisisWatch
    from .sla_clock import SlaClock

    svc = app[SERVICES]
    assert svc.pool is not None and svc.hub is not None
    svc.sla_clock = SlaClock(svc.pool, svc.clock)
    svc.crisis_watch = CrisisWatch(
        svc.pool,
        svc.clock,
        svc.config.crisis,
        ignore=(svc.config.brand.name, svc.config.brand.handle),
    )
    svc.hub.on_event(svc.sla_clock.on_event)
    svc.hub.on_event(svc.crisis_watch.on_event)
    svc.crisis = await svc.crisis_watch.open_crisis()
    yield


async def _reap_leases(svc: Services) -> None:
    assert svc.pool is not None
    while True:
        try:
            async with svc.pool.acquire() as conn:
                await actions_mod.expire_leases(conn, svc.clock.now())
        except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as exc:
            log.warning("lease reaper: database unavailable (%s)", exc)
        await asyncio.sleep(svc.config.claims.reap_interval_seconds)


async def _run_simulator(svc: Services) -> None:
    """Feed the simulator's mentions through ingest, its cursor stored with them."""
    cfg = svc.config.simulator
    assert svc.pool is not None and svc.ingest is not None
    name = f"simulator:{cfg.scenario}:{cfg.seed}"
    sim = Simulator(
        cfg.scenario, cfg.seed, svc.clock, svc.config.brand.handle, svc.config.brand.name
    )
    async with svc.pool.acquire() as conn:
        cursor = (
            await conn.fetchval("SELECT cursor FROM connector_state WHERE connector = $1", name)
            or {}
        )
    sim.skip_to(int(cursor.get("sequence", 0)))
    rng = random.Random(cfg.seed)
    if sim.sequence < cfg.burst:
        posts = list(sim.posts(cfg.burst - sim.sequence))
        await svc.ingest.store_from(svc.pool, posts, (name, {"sequence": sim.sequence}))
    while cfg.rate > 0:
        await asyncio.sleep(opening_delay(cfg.rate, rng).total_seconds())
        posts = list(sim.posts(1))
        try:
            await svc.ingest.store_from(svc.pool, posts, (name, {"sequence": sim.sequence}))
        except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as exc:
            log.warning("simulator: database unavailable (%s)", exc)
            sim.sequence -= 1  # not stored: the cursor stays, the post comes again


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
    from .api import setup_routes

    clock = clock or Clock()
    simulated = SimulatedPlatform(
        clock, config.simulator.publish_failure_rate, config.simulator.seed
    )
    connectors = build_connectors(config, clock, env)
    # Each enabled connector also publishes our replies and DMs on its platform.
    own = {connector.platform: connector for _, connector in connectors.values()}
    svc = Services(
        config,
        db_url,
        clock,
        {"simulator": simulated, **own, **(publishers or {})},
        simulated=simulated,
        connectors=connectors,
        env=env,
    )
    svc.ingest = Ingest(accept_all, fixed_deadlines(timedelta(hours=1)), clock)
    svc.use_rulebook(rulebook or load_rulebook(config.rules_dir))
    if processor is not None:
        svc.processor = svc.ingest.process = processor
    elif rulebook is None and config.ingest.listening_worker:
        # The worker reads config.rules_dir itself: only when that is where our rules came from.
        svc.ingest.worker = ListeningWorker(config.rules_dir, validate=False)
        svc.ingest.worker_min_batch = config.ingest.worker_min_batch
    svc.actions = Actions(
        clock,
        timedelta(seconds=config.claims.lease_seconds),
        checks=lambda: svc.rulebook.checks if svc.rulebook else None,
        templates=lambda: list(svc.rulebook.templates) if svc.rulebook else [],
    )

    app = web.Application(middlewares=[error_middleware, auth_middleware], client_max_size=1024**2)
    app[SERVICES] = svc
    app.cleanup_ctx.append(_database)

    async def _outbox(app: web.Application) -> AsyncIterator[None]:
        assert svc.pool is not None and svc.hub is not None
        svc.outbox = OutboxPublisher(
            svc.pool,
            svc.publishers,
            clock,
            config.outbox.max_attempts,
            config.outbox.backoff_base_seconds,
            config.outbox.backoff_cap_seconds,
            window=config.outbox.window,
        )
        svc.hub.on_event(svc._follow_events)
        yield

    app.cleanup_ctx.append(_outbox)
    app.cleanup_ctx.append(_watches)

    async def _close_connectors(app: web.Application) -> AsyncIterator[None]:
        yield
        for _, connector in svc.connectors.values():
            await connector.close()

    app.cleanup_ctx.insert(0, _close_connectors)  # closed last, after the pollers stop

    async def _close_listening_worker(app: web.Application) -> AsyncIterator[None]:
        yield
        worker = svc.ingest.worker if svc.ingest is not None else None
        if isinstance(worker, ListeningWorker):
            await asyncio.to_thread(worker.close)

    app.cleanup_ctx.insert(0, _close_listening_worker)
    if background:
        app.cleanup_ctx.append(_background)
    setup_routes(app)
    return app
