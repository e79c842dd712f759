"""The console against a big queue: first paint, keypress-to-repaint latency, countdown tick cost.

    .venv/bin/python bench/tui.py [--conversations 100000] [--presses 200] [--keep]
    .venv/bin/python bench/tui.py --conversations 1000000 --keep --ingest 2000   # during a crisis

A backend process (`shiftdesk serve`, real HTTP, real PostgreSQL: SHIFTDESK_TEST_DATABASE_URL's
server, else a throwaway embedded one) holds N open conversations (bench/harness.py's seed;
`--keep` keeps the seeded database and reuses it next run); the console runs headless under
Pilot in this process.

With `--ingest RATE` the simulator's pile-on (bench/soak.py's feeder, in a process of its own)
posts RATE mentions/s through the webhook for `--ingest-seconds` while the keys are pressed,
spread over the feed: the console then also takes the live events and reloads its window.

- first paint: from starting the app to the first rows of the queue drawn on screen.
- keypress: from the key event reaching the app to the end of the repaint it caused
  (timed inside the app with call_after_refresh), for j/k through the queue. Pilot's own
  cost per press is measured on a trivial app in the same run and reported beside it.
- tick: CPU time (process_time) of one 1 Hz countdown tick: the tick itself plus drawing
  every visible queue line, which is what the tick makes the compositor do.

Targets: first paint < 1.5 s, keypress p99 < 50 ms (also while ingesting), G < 100 ms,
tick < 5 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
from aiohttp import web  # noqa: E402
from textual import events  # noqa: E402
from textual.app import App, ComposeResult  # noqa: E402
from textual.widgets import Static  # noqa: E402

from backend import operators  # noqa: E402
from bench.harness import drop_database, postgres, queue_database  # noqa: E402
from bench.soak import SECRET, TOKEN, RecordingPlatform, config_file, feed  # noqa: E402
from tests.processes import BackendProcess  # noqa: E402
from tui.app import ShiftdeskApp  # noqa: E402
from tui.client import BackendClient  # noqa: E402
from tui.widgets.queue_list import QueueList  # noqa: E402


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
        self.key_at = 0.0

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):
            started = self.key_at = time.perf_counter()
            # Two refresh cycles: the key's own repaint, then the one for the messages it posted
            # (the queue title); the latency ends when both are on screen.
            self.call_after_refresh(
                lambda: self.call_after_refresh(
                    lambda: self.latencies.append(time.perf_counter() - started)
                )
            )
        await super().on_event(event)


async def until(pilot, predicate, timeout: float = 60.0, poll: float = 0.001) -> None:
    deadline = time.perf_counter() + timeout
    while not predicate():
        if time.perf_counter() > deadline:
            raise SystemExit("timed out")
        await pilot.pause(poll)


async def measure(
    url: str, token: str, presses: int, ingest: float = 0.0, ingest_seconds: float = 0.0
) -> dict[str, float]:
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

        async def press_keys(spread_s: float) -> None:
            app.latencies.clear()
            started = time.perf_counter()
            for i in range(presses):
                await pilot.press("j" if (i // 40) % 2 == 0 else "k")
                if spread_s:
                    await pilot.pause(spread_s / presses)
            out["pilot_console_press_ms"] = (time.perf_counter() - started) / presses * 1000
            await pilot.pause()

        if ingest:
            loop = asyncio.get_running_loop()
            with concurrent.futures.ProcessPoolExecutor(1) as feeder:
                fed = loop.run_in_executor(feeder, feed, url, ingest_seconds, ingest, 10.0, 7)
                await asyncio.sleep(min(2.0, ingest_seconds / 4))  # the feed under way
                await press_keys(max(ingest_seconds - 4.0, 1.0))
                result = await fed
            out["ingested"] = result["stored"]
            out["ingest_rate"] = result["accepted"] / max(result["elapsed"], 1e-9)
            out["total_after"] = queue.total
        else:
            await press_keys(0.0)
        lat = [x * 1000 for x in app.latencies]
        out["key_p50_ms"], out["key_p99_ms"], out["key_max_ms"] = (
            pct(lat, 50),
            pct(lat, 99),
            max(lat),
        )

        # G: from the key reaching the app to the last page fetched (by key, backwards from
        # the end) and drawn; Pilot's own cost of delivering the press is left out, as above.
        drawn: list[float] = []
        await pilot.press("G")
        await until(pilot, lambda: queue.selected_id is not None, poll=0.0005)
        app.call_after_refresh(lambda: drawn.append(time.perf_counter()))
        await until(pilot, lambda: bool(drawn), poll=0.0005)
        out["jump_to_last_s"] = drawn[0] - app.key_at

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


async def run(
    admin_url: str, n: int, presses: int, keep: bool, ingest: float, ingest_seconds: float
) -> dict[str, float]:
    db_url, kept = await queue_database(admin_url, n, keep)
    platform = RecordingPlatform()
    runner = web.AppRunner(platform.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    tmp = Path(tempfile.mkdtemp(prefix="shiftdesk-bench-tui-"))
    platform_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    backend = BackendProcess(
        db_url,
        config_files=[config_file(tmp, platform_url)],
        log_path=tmp / "serve.log",
        env={"SHIFTDESK_WEBHOOK_MASTODON_SECRET": SECRET, "SHIFTDESK_MASTODON_TOKEN": TOKEN},
    )
    try:
        conn = await asyncpg.connect(db_url)
        try:
            _, token = await operators.add(conn, f"bench{time.time_ns()}", "Bench", "operator")
        finally:
            await conn.close()
        await backend.start()
        return await measure(backend.url, token, presses, ingest, ingest_seconds)
    finally:
        backend.stop()
        await runner.cleanup()
        if not kept:
            await drop_database(admin_url, db_url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--presses", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help="keep the seeded database for reuse")
    parser.add_argument("--ingest", type=float, default=0.0, help="mentions/s fed while pressing")
    parser.add_argument("--ingest-seconds", type=float, default=30.0)
    args = parser.parse_args()
    with postgres() as admin:
        r = asyncio.run(
            run(
                admin,
                args.conversations,
                args.presses,
                args.keep,
                args.ingest,
                args.ingest_seconds,
            )
        )
    during = f" while ingesting {args.ingest:g}/s" if args.ingest else ""
    rows = [
        ("open conversations in the queue", f"{int(r['total']):,}", ""),
        ("first paint", f"{r['first_paint_s']:.2f} s", "< 1.5 s"),
        (f"keypress to repaint p50 (j/k, in app){during}", f"{r['key_p50_ms']:.1f} ms", ""),
        (f"keypress to repaint p99 (j/k, in app){during}", f"{r['key_p99_ms']:.1f} ms", "< 50 ms"),
        ("keypress to repaint max", f"{r['key_max_ms']:.1f} ms", ""),
        ("Pilot press, trivial app", f"{r['pilot_press_ms']:.1f} ms", "(Pilot's own cost)"),
        ("Pilot press, console", f"{r['pilot_console_press_ms']:.1f} ms", ""),
        (
            "G: jump to the last row, page fetched",
            f"{r['jump_to_last_s'] * 1000:.0f} ms",
            "< 100 ms",
        ),
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
    if args.ingest:
        rows += [
            ("mentions stored by the backend meanwhile", f"{int(r['ingested']):,}", ""),
            ("feed rate achieved, mentions/s", f"{r['ingest_rate']:.0f}", f"{args.ingest:g}"),
            ("open conversations afterwards", f"{int(r['total_after']):,}", ""),
        ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'value':>10}  target")
    for what, value, target in rows:
        print(f"{what:<{width}}  {value:>10}  {target}")


if __name__ == "__main__":
    main()
