"""The console against a big queue: first paint, keypress-to-repaint latency, countdown tick cost.

    .venv/bin/python bench/tui.py [--conversations 100000] [--presses 200]

A backend (real HTTP, real PostgreSQL: SHIFTDESK_DATABASE_URL's server, else a throwaway
embedded one) holds N open conversations; the console runs headless under Pilot.

- first paint: from starting the app to the first rows of the queue drawn on screen.
- keypress: from the key event reaching the app to the end of the repaint it caused
  (timed inside the app with call_after_refresh), for j/k through the queue. Pilot's own
  cost per press is measured on a trivial app in the same run and reported beside it.
- tick: CPU time (process_time) of one 1 Hz countdown tick: the tick itself plus drawing
  every visible queue line, which is what the tick makes the compositor do.

Targets: first paint < 1.5 s, keypress p99 < 50 ms, tick < 5 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
from aiohttp import web  # noqa: E402
from textual import events  # noqa: E402
from textual.app import App, ComposeResult  # noqa: E402
from textual.widgets import Static  # noqa: E402

from backend import operators  # noqa: E402
from backend.config import load_config  # noqa: E402
from backend.db.migrate import migrate_url  # noqa: E402
from backend.db.setup import with_database  # noqa: E402
from tui.app import ShiftdeskApp  # noqa: E402
from tui.client import BackendClient  # noqa: E402
from tui.widgets.queue_list import QueueList  # noqa: E402

SEED_SQL = """
INSERT INTO authors (platform, platform_id, handle, display_name, followers)
SELECT 'simulator', 'a' || g, 'customer' || g, 'Customer ' || g, g % 5000
FROM generate_series(1, 20000) g;

INSERT INTO conversations (platform, author_id, state, priority, first_inbound_at, last_inbound_at,
                           sla_kind, sla_started_at, sla_warn_at, sla_due_at)
SELECT 'simulator', 1 + g % 20000, 'new', 1 + g % 4, now() - interval '5 minutes', now() - interval '5 minutes',
       'first', now(), now() + make_interval(secs => (g * 7919) % 7200 - 600),
       now() + make_interval(secs => (g * 7919) % 7200)
FROM generate_series(1, $N) g;

INSERT INTO mentions (platform, post_id, conversation_id, author_id, text, created_at)
SELECT 'simulator', 'p' || c.id, c.id, c.author_id,
       '@acme order ' || c.id || ' is late again, where is it? #acmefail', c.first_inbound_at
FROM conversations c;
ANALYZE;
"""


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


class Trivial(App[None]):
    """Pilot's own cost per press: an app that does nothing with the key."""

    def compose(self) -> ComposeResult:
        yield Static("trivial")


class TimedConsole(ShiftdeskApp):
    """The real console, stamping each key event and the end of the repaint that follows it."""

    CSS_PATH = str(ROOT / "tui" / "app.tcss")  # resolved against this module otherwise

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self.latencies: list[float] = []

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):
            started = time.perf_counter()
            # Two refresh cycles: the key's own repaint, then the one for the messages it posted
            # (the queue title); the latency ends when both are on screen.
            self.call_after_refresh(
                lambda: self.call_after_refresh(
                    lambda: self.latencies.append(time.perf_counter() - started)
                )
            )
        await super().on_event(event)


async def until(pilot, predicate, timeout: float = 60.0) -> None:
    deadline = time.perf_counter() + timeout
    while not predicate():
        if time.perf_counter() > deadline:
            raise SystemExit("timed out")
        await pilot.pause(0.001)


async def measure(url: str, token: str, presses: int) -> dict[str, float]:
    out: dict[str, float] = {}

    trivial = Trivial()
    async with trivial.run_test(size=(80, 24)) as pilot:
        started = time.perf_counter()
        for _ in range(50):
            await pilot.press("j")
        out["pilot_press_ms"] = (time.perf_counter() - started) / 50 * 1000

    app = TimedConsole(BackendClient(url, token))
    started = time.perf_counter()
    async with app.run_test(size=(80, 24)) as pilot:
        await until(
            pilot,
            lambda: (
                app.screen.__class__.__name__ == "QueueScreen"
                and app.screen.query_one(QueueList).loaded
            ),
        )
        queue = app.screen.query_one(QueueList)
        await pilot.pause()  # the repaint that draws the rows
        out["first_paint_s"] = time.perf_counter() - started
        out["total"] = queue.total

        app.latencies.clear()
        started = time.perf_counter()
        for i in range(presses):
            await pilot.press("j" if (i // 40) % 2 == 0 else "k")
        out["pilot_console_press_ms"] = (time.perf_counter() - started) / presses * 1000
        await pilot.pause()
        lat = [x * 1000 for x in app.latencies]
        out["key_p50_ms"], out["key_p99_ms"], out["key_max_ms"] = (
            pct(lat, 50),
            pct(lat, 99),
            max(lat),
        )

        started = time.perf_counter()
        await pilot.press("G")
        await until(pilot, lambda: queue.selected_id is not None)
        await pilot.pause()
        out["jump_to_last_s"] = time.perf_counter() - started

        ticks = []
        height = queue.size.height
        for _ in range(200):
            cpu = time.process_time()
            queue.tick()
            for y in range(height):
                queue.render_line(y)
            ticks.append((time.process_time() - cpu) * 1000)
        out["tick_p50_ms"], out["tick_p99_ms"] = pct(ticks, 50), pct(ticks, 99)
        out["tick_lines"] = height
    return out


async def run(admin_url: str, n: int, presses: int) -> dict[str, float]:
    name = f"shiftdesk_bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(admin_url)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    db_url = with_database(admin_url, name)
    try:
        await migrate_url(db_url)
        conn = await asyncpg.connect(db_url)
        started = time.perf_counter()
        await conn.execute(SEED_SQL.replace("$N", str(int(n))))
        await conn.close()
        print(
            f"seeded {n} open conversations in {time.perf_counter() - started:.1f} s",
            file=sys.stderr,
        )

        from backend.app import init_app
        from backend.live.hub import HUB
        from backend.web.keys import POOL

        app = init_app(load_config(env={}), db_url)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        try:
            await asyncio.wait_for(app[HUB].connected.wait(), 10)
            _, token = await operators.add(app[POOL], "bench", "Bench", "operator")
            return await measure(url, token, presses)
        finally:
            await runner.cleanup()
    finally:
        conn = await asyncpg.connect(admin_url)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--presses", type=int, default=200)
    args = parser.parse_args()
    admin = os.environ.get("SHIFTDESK_DATABASE_URL")
    if admin:
        r = asyncio.run(run(admin, args.conversations, args.presses))
    else:
        from backend.db.embedded import start_embedded

        with tempfile.TemporaryDirectory(prefix="shiftdesk-bench-pg-") as tmp:
            server = start_embedded(Path(tmp) / "pgdata")
            try:
                r = asyncio.run(run(server.url, args.conversations, args.presses))
            finally:
                server.stop()
    rows = [
        ("open conversations in the queue", f"{int(r['total']):,}", ""),
        ("first paint", f"{r['first_paint_s']:.2f} s", "< 1.5 s"),
        ("keypress to repaint p50 (j/k, in app)", f"{r['key_p50_ms']:.1f} ms", ""),
        ("keypress to repaint p99 (j/k, in app)", f"{r['key_p99_ms']:.1f} ms", "< 50 ms"),
        ("keypress to repaint max", f"{r['key_max_ms']:.1f} ms", ""),
        ("Pilot press, trivial app", f"{r['pilot_press_ms']:.1f} ms", "(Pilot's own cost)"),
        ("Pilot press, console", f"{r['pilot_console_press_ms']:.1f} ms", ""),
        ("G: jump to the last row, page fetched", f"{r['jump_to_last_s'] * 1000:.0f} ms", ""),
        (
            f"countdown tick CPU p50 ({int(r['tick_lines'])} lines)",
            f"{r['tick_p50_ms']:.2f} ms",
            "",
        ),
        (
            f"countdown tick CPU p99 ({int(r['tick_lines'])} lines)",
            f"{r['tick_p99_ms']:.2f} ms",
            "< 5 ms",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'value':>10}  target")
    for what, value, target in rows:
        print(f"{what:<{width}}  {value:>10}  {target}")


if __name__ == "__main__":
    main()
