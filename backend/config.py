"""How shiftdesk runs: `config/shiftdesk.yaml`, overridable by environment.

Every key has a default here, so a config file only says what differs. Any
key can be overridden by an environment variable named after it:
`database.url` -> `SHIFTDESK_DATABASE_URL`, `server.port` ->
`SHIFTDESK_SERVER_PORT`. The models below are the schema (backend/schema.py):
unknown keys, wrong types and bad values stop start-up with the file, the
line, the key and what is wrong.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, get_origin, get_type_hints

from pydantic import AfterValidator, Field, PlainValidator

from backend import schema, yamlfile
from backend.connectors import bluesky as bluesky_connector
from backend.connectors import mastodon as mastodon_connector
from backend.schema import Schema
from backend.yamlfile import FileError, FileErrors, Located

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO_ROOT / "config" / "shiftdesk.yaml"
ENV_PREFIX = "SHIFTDESK_"

_ENV_VAR = re.compile(r"[A-Z_][A-Z0-9_]*")
_SOURCE = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")  # as the /ingest/{source} route accepts


def _postgres_url(url: str) -> str:
    if url and not url.startswith(("postgres://", "postgresql://")):
        raise ValueError("must start with postgresql://")
    return url


def _env_var_name(holding: str, *, optional: bool) -> Callable[[object], str]:
    """A check that a value is the NAME of an environment variable. The value itself is never
    repeated in the error: someone may have pasted the secret in its place."""

    def check(value: object) -> str:
        if isinstance(value, str) and ((optional and not value) or _ENV_VAR.fullmatch(value)):
            return value
        raise ValueError(f"expected the NAME of an environment variable holding the {holding}")

    return check


def _source_name(value: object) -> str:
    if isinstance(value, str) and _SOURCE.fullmatch(value):
        return value
    raise ValueError("a source name is 1-32 lowercase letters, digits, - or _")


SourceName = Annotated[str, PlainValidator(_source_name)]
SecretVariable = Annotated[
    str,
    PlainValidator(
        _env_var_name("secret (the secret itself never goes in a file)", optional=False)
    ),
]


class BrandConfig(Schema):
    name: str = "Acme"
    handle: str = "acme"


class DatabaseConfig(Schema):
    url: Annotated[str, AfterValidator(_postgres_url)] = ""  # empty: start the embedded PostgreSQL
    data_dir: str = ""  # embedded PostgreSQL's data; empty: per-user data directory
    name: str = "shiftdesk"  # database created on the embedded server
    pool_min: Annotated[int, Field(ge=1)] = 2
    pool_max: int = 10  # at least pool_min (checked in _check_values)


class ServerConfig(Schema):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8470  # 0: any free port (tests, the demo)


class RulesConfig(Schema):
    dir: str = ""  # empty: the rules/ folder of this checkout


class ClaimsConfig(Schema):
    # A claim lapses this long after the last heartbeat; shorter than a console's renewal
    # interval and claims would lapse while the operator is still typing.
    lease_seconds: Annotated[int, Field(ge=10)] = 300
    reap_interval_seconds: Annotated[float, Field(gt=0)] = 5.0
    # After a public reply or a move to DM the operator keeps the conversation this long
    # while the customer has the turn (a shift); signing out gives it back sooner.
    waiting_lease_seconds: Annotated[int, Field(ge=60)] = 28800
    # When the customer answers, it is claimed for its operator this long; then the queue.
    owner_first_seconds: Annotated[int, Field(ge=10)] = 300


class OutboxConfig(Schema):
    poll_interval_seconds: Annotated[float, Field(gt=0)] = 1.0
    max_attempts: Annotated[int, Field(ge=1)] = 8
    backoff_base_seconds: Annotated[float, Field(ge=0)] = 1.0
    backoff_cap_seconds: Annotated[float, Field(ge=0)] = 300.0
    # Replies being sent at once (a slow platform holds one slot each).
    window: Annotated[int, Field(ge=1)] = 64


class IngestConfig(Schema):
    # Listening (matching, enrichment, checks) for big batches runs in a second
    # process, on another core, while the backend stores the previous batch and
    # answers operators; small batches are cheaper to listen to in place.
    listening_worker: bool = True
    worker_min_batch: Annotated[int, Field(ge=1)] = 50


class SimulatorConfig(Schema):
    enabled: bool = False
    scenario: str = "calm"
    rate: Annotated[float, Field(ge=0)] = 0.2  # mentions per second after the opening burst
    burst: Annotated[int, Field(ge=0)] = 0  # mentions delivered at once on start
    seed: int = 7
    publish_failure_rate: Annotated[float, Field(ge=0, le=1)] = 0.0


@dataclass(frozen=True)
class ConnectorSettings:
    """One polling connector: whether it runs, how often, and the connector's
    own settings (MastodonConfig, BlueskyConfig), read by its own read_config."""

    name: str  # "mastodon", "bluesky": the config key and the platform
    enabled: bool
    poll_interval_seconds: float
    settings: Any  # MastodonConfig | BlueskyConfig

    @property
    def token_env(self) -> str:
        """Name of the environment variable holding the token (never the token)."""
        return getattr(self.settings, "token_env", "") or getattr(self.settings, "password_env", "")

    @property
    def cursor_name(self) -> str:
        """The connector_state row: per platform and account, so a new account starts afresh."""
        account = getattr(self.settings, "account", "") or getattr(self.settings, "identifier", "")
        return f"{self.name}:{account}"


# Polling connectors: config key -> (the connector's read_config, its settings dataclass).
CONNECTOR_READERS: dict[str, tuple[Callable[[Located, str], Any], type]] = {
    "mastodon": (mastodon_connector.read_config, mastodon_connector.MastodonConfig),
    "bluesky": (bluesky_connector.read_config, bluesky_connector.BlueskyConfig),
}
DEFAULT_POLL_INTERVAL = 30.0


class ConnectorRunner(Schema):
    """The keys of a connector's section that belong to the runner, not to the connector."""

    enabled: bool = True
    poll_interval_seconds: Annotated[float, Field(gt=0)] = DEFAULT_POLL_INTERVAL


class WebhookConfig(Schema):
    """POST /ingest/{source}: each source signs with a secret held in an environment variable."""

    max_body_bytes: Annotated[int, Field(ge=1024)] = 1024 * 1024
    window_seconds: Annotated[int, Field(ge=1)] = 300  # how old (or new) a signed timestamp may be
    # source name -> NAME of the environment variable holding its secret
    sources: dict[SourceName, SecretVariable] = {}


@dataclass(frozen=True, slots=True)
class SurgeConfig:
    """Parameters of the detector; config/shiftdesk.yaml sets them under `crisis:`."""

    window: timedelta = timedelta(minutes=5)  # how far back "now" looks
    baseline_window: timedelta = timedelta(hours=1)  # what "usual" is measured over
    factor: float = 3.0  # how many times usual counts as a surge
    min_count: int = 20  # fewer negatives in a window is never a crisis
    cool_down: timedelta = timedelta(minutes=10)  # calm this long before the crisis ends
    release: float = 0.5  # calm = below this share of the start threshold
    bucket: timedelta = timedelta(seconds=10)  # counting resolution

    def __post_init__(self) -> None:
        problems = []
        for name in ("window", "baseline_window", "bucket"):
            if getattr(self, name) <= timedelta():
                problems.append(f"{name} must be longer than zero")
        if self.cool_down < timedelta():
            problems.append("cool_down must not be negative")
        if self.factor <= 1:
            problems.append("factor must be more than 1")
        if self.min_count < 1:
            problems.append("min_count must be at least 1")
        if not 0 < self.release <= 1:
            problems.append("release must be more than 0 and at most 1")
        if self.bucket > self.window:
            problems.append("bucket must not be longer than window")
        if problems:
            raise ValueError("; ".join(problems))


class CrisisConfig(Schema):
    """Surge detection (backend/crisis/surge.py): negative mentions against a rolling baseline.

    Each value's own limits are declared here; the detector's checks across them
    (SurgeConfig: bucket no longer than window) run in _check_values."""

    # A mention this negative (sentiment runs from -1 to 1) counts towards a surge.
    negative_below: Annotated[float, Field(ge=-1, le=1)] = -0.25
    window_seconds: Annotated[float, Field(gt=0)] = 300.0  # how far back "now" looks
    baseline_seconds: Annotated[float, Field(gt=0)] = 3600.0  # what "usual" is measured over
    factor: Annotated[float, Field(gt=1)] = 3.0  # how many times usual counts as a surge
    min_count: Annotated[int, Field(ge=1)] = 20  # fewer negatives in a window is never a crisis
    cool_down_seconds: Annotated[float, Field(ge=0)] = 600.0  # calm this long before it ends
    release: Annotated[float, Field(gt=0, le=1)] = 0.5  # calm = below this share of the start
    # Counting resolution, and how often the watch checks.
    bucket_seconds: Annotated[float, Field(gt=0)] = 10.0

    def surge(self) -> SurgeConfig:
        """The detector's parameters (raises ValueError naming what is wrong)."""
        return SurgeConfig(
            timedelta(seconds=self.window_seconds),
            timedelta(seconds=self.baseline_seconds),
            self.factor,
            self.min_count,
            timedelta(seconds=self.cool_down_seconds),
            self.release,
            timedelta(seconds=self.bucket_seconds),
        )


class MetricsConfig(Schema):
    """GET /metrics: aggregate numbers only. Empty token_env: open (bind the backend to a private
    network); set it to the NAME of an environment variable and scrapers must send that bearer token."""

    token_env: Annotated[str, PlainValidator(_env_var_name("token", optional=True))] = ""


def _keys(value: object) -> str:
    """A binding's keys as Textual takes them: 'r', 'ctrl+o', or several as 'q,Q' or a list."""
    if isinstance(value, list) and all(isinstance(k, str) for k in value):
        value = ",".join(value)
    if isinstance(value, str) and all(k.strip() for k in value.split(",")):
        return ",".join(k.strip() for k in value.split(","))
    raise ValueError("expected a key such as 'r' or 'ctrl+o' (several: a list, or 'q,Q')")


class TuiConfig(Schema):
    backend_url: str = "http://127.0.0.1:8470"
    token: str = ""  # better given as SHIFTDESK_TUI_TOKEN than written here
    # Console keys by binding id (tui/keymap.py); `shiftdesk tui` checks the ids and clashes.
    keymap: dict[str, Annotated[str, PlainValidator(_keys)]] = {}


class SshConfig(Schema):
    """`shiftdesk ssh`: the console served over SSH to operators' keys."""

    host: str = "127.0.0.1"  # loopback unless a team decides otherwise
    port: Annotated[int, Field(ge=0, le=65535)] = 2222  # 0: any free port (tests)
    host_key: str = ""  # empty: ssh_host_ed25519_key in the state directory, made on first start
    # A console with no keypress for this long ends (its claims go back to the queue).
    idle_timeout_seconds: Annotated[int, Field(ge=10)] = 3600
    max_sessions_per_operator: Annotated[int, Field(ge=1)] = 3
    # Connections still signing in at once; more are turned away until some finish.
    max_unauthenticated: Annotated[int, Field(ge=1)] = 20
    login_timeout_seconds: Annotated[int, Field(ge=5)] = 30


def _http_url(url: str) -> str:
    if url and not url.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return url.rstrip("/")


class WebConfig(Schema):
    """`shiftdesk web`: the console in a browser, behind a sign-in."""

    host: str = "127.0.0.1"  # loopback: put a TLS reverse proxy in front to reach it from elsewhere
    port: Annotated[int, Field(ge=0, le=65535)] = 8471
    # The address people open, e.g. https://desk.example.com behind a proxy: printed in sign-in
    # links; an https:// one also marks the session cookie Secure. Empty: http://host:port.
    public_url: Annotated[str, AfterValidator(_http_url)] = ""
    backend_url: Annotated[str, AfterValidator(_http_url)] = ""  # empty: tui.backend_url
    link_minutes: Annotated[int, Field(ge=1, le=1440)] = 15  # a one-time sign-in link expires
    session_hours: Annotated[float, Field(gt=0, le=24)] = 12.0  # a sign-in lasts about a shift
    max_consoles: Annotated[int, Field(ge=1)] = 20  # consoles running at once (a process each)
    max_consoles_per_operator: Annotated[int, Field(ge=1)] = 3  # as ssh.max_sessions_per_operator
    # How often open sessions are checked against the database: a revoked operator's console
    # ends within this many seconds.
    check_seconds: Annotated[float, Field(gt=0, le=60)] = 1.0


class Config(Schema):
    """Everything config/*.yaml may set, with its default."""

    brand: BrandConfig = BrandConfig()
    database: DatabaseConfig = DatabaseConfig()
    server: ServerConfig = ServerConfig()
    rules: RulesConfig = RulesConfig()
    claims: ClaimsConfig = ClaimsConfig()
    outbox: OutboxConfig = OutboxConfig()
    ingest: IngestConfig = IngestConfig()
    simulator: SimulatorConfig = SimulatorConfig()
    tui: TuiConfig = TuiConfig()
    ssh: SshConfig = SshConfig()
    web: WebConfig = WebConfig()
    webhook: WebhookConfig = WebhookConfig()
    crisis: CrisisConfig = CrisisConfig()
    metrics: MetricsConfig = MetricsConfig()
    # Polling connectors by name; only the ones configured are present. Read by each
    # connector's own read_config (load_config), so never part of the file's validation.
    connectors: dict[str, ConnectorSettings] = {}

    @property
    def rules_dir(self) -> Path:
        return Path(self.rules.dir) if self.rules.dir else REPO_ROOT / "rules"


def _leaf_types(model: type[Schema], prefix: str = "") -> dict[str, Any]:
    """Dotted key -> type for every single-value setting (what an environment variable can set)."""
    out: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        key = f"{prefix}.{name}" if prefix else name
        kind = info.annotation
        if isinstance(kind, type) and issubclass(kind, Schema):
            out.update(_leaf_types(kind, key))
        elif get_origin(kind) is not dict:  # connectors, webhook.sources: named in files only
            out[key] = kind
    return out


KEYS = _leaf_types(Config)


def env_name(key: str) -> str:
    """The environment variable that overrides a setting: database.url -> SHIFTDESK_DATABASE_URL."""
    return ENV_PREFIX + key.replace(".", "_").upper()


def _from_env(var: str, raw: str, kind: Any) -> Any:
    """An environment variable's text as a setting's type; FileError naming the variable."""
    if kind is bool and not raw.strip():
        return False  # VAR= switches a setting off, as most tools read it
    try:
        return schema.from_text(kind, raw)
    except ValueError as exc:
        raise FileError(f"environment variable {var}", "", str(exc)) from None


# Where a value came from: (file, its key) or an environment variable's name.
Origin = tuple[Located, str] | str


def _check_values(cfg: Config, origins: Mapping[str, Origin]) -> None:
    """Checks across settings (one setting's own limits are in its type), each error
    placed where the value came from."""

    def bad(key: str, reason: str) -> FileError:
        return _place(origins, key, reason)

    errors = []
    if cfg.database.pool_max < cfg.database.pool_min:
        errors.append(bad("database.pool_max", "pool sizes need 1 <= pool_min <= pool_max"))
    try:
        cfg.crisis.surge()
    except ValueError as exc:
        # Each problem names the detector's field first; place it at the config key it came from.
        own = {
            "window": "window_seconds",
            "baseline_window": "baseline_seconds",
            "cool_down": "cool_down_seconds",
            "bucket": "bucket_seconds",
        }
        for problem in str(exc).split("; "):
            name = problem.split(" ")[0]
            errors.append(bad(f"crisis.{own.get(name, name)}", problem))
    if errors:
        raise FileErrors(errors)


def _place(origins: Mapping[str, Origin], key: str, reason: str) -> FileError:
    """An error at `key`, placed in the file (or variable) that set it or its section."""
    probe = key
    while probe and probe not in origins:
        probe = probe.rpartition(".")[0]
    origin = origins.get(probe)
    if isinstance(origin, tuple):
        doc, _ = origin
        return doc.error(key, reason)
    if isinstance(origin, str):
        return FileError(f"environment variable {origin}", "", reason)
    return FileError("config", key, reason)


def _merge(
    into: dict[str, Any], data: Mapping[str, Any], doc: Located, origins: dict[str, Origin]
) -> None:
    """Lay a file's values over the ones before it, key by key, remembering where each came from."""

    def lay(into: dict[str, Any], data: Mapping[str, Any], prefix: str) -> None:
        for name, value in data.items():
            key = f"{prefix}.{name}" if prefix else str(name)
            origins[key] = (doc, key)
            if isinstance(value, dict):
                if not isinstance(into.get(name), dict):
                    into[name] = {}
                lay(into[name], value, key)
            else:
                into[name] = value

    # A section with every line commented out is empty, not an error.
    lay(into, {k: v for k, v in data.items() if v is not None}, "")


# A check a command adds over the settings it uses: (dotted key, what is wrong) for each problem.
Check = Callable[[Config], list[tuple[str, str]]]


def load_config(
    paths: list[str | Path] | None = None,
    env: Mapping[str, str] | None = None,
    check: Check | None = None,
) -> Config:
    """Defaults, then each file in order, then SHIFTDESK_* environment variables, then `check`
    (e.g. the console's keymap against its bindings, which the backend cannot import).

    Raises FileErrors listing every problem found, each at the file and line that set it.
    """
    env = os.environ if env is None else env
    paths = [DEFAULT_CONFIG] if paths is None else paths
    values: dict[str, Any] = {}
    origins: dict[str, Origin] = {}
    errors: list[FileError] = []
    connector_docs: dict[str, Located] = {}  # the last file that defines each connector

    for path in paths:
        try:
            doc = yamlfile.load(path)
        except FileError as exc:
            errors.append(exc)
            continue
        if doc.data is None:
            continue
        if not isinstance(doc.data, dict):
            errors.append(
                doc.error("", "expected a mapping of sections (brand, database, server, ...)")
            )
            continue
        data = dict(doc.data)
        errors += _take_connectors(doc, data, connector_docs)
        _merge(values, data, doc, origins)

    for key, kind in KEYS.items():
        var = env_name(key)
        if var in env:
            try:
                value = _from_env(var, env[var], kind)
            except FileError as exc:
                errors.append(exc)
                continue
            section, _, name = key.partition(".")
            if not isinstance(values.get(section), dict):
                values[section] = {}
            values[section][name] = value
            origins[key] = var

    connectors: dict[str, ConnectorSettings] = {}
    for name in CONNECTOR_READERS:
        try:
            found = _read_connector(name, connector_docs.get(name), env)
        except FileErrors as exc:
            errors.extend(exc.errors)
            continue
        except FileError as exc:
            errors.append(exc)
            continue
        if found is not None:
            connectors[name] = found

    cfg: Config | None = None
    try:
        cfg = schema.validate(Config, values, lambda key, why: _place(origins, key, why))
    except FileErrors as exc:
        errors += exc.errors
    if errors or cfg is None:
        # In the order a person reads them: file by file, line by line, then the environment.
        order = {str(p): i for i, p in enumerate(paths)}
        errors.sort(key=lambda e: (order.get(e.path, len(order)), e.line or 0))
        raise FileErrors(errors)
    cfg = cfg.model_copy(update={"connectors": connectors})
    _check_values(cfg, origins)
    if check is not None:
        problems = check(cfg)
        if problems:
            raise FileErrors([_place(origins, key, why) for key, why in problems])
    return cfg


def _take_connectors(
    doc: Located, data: dict[str, Any], found: dict[str, Located]
) -> list[FileError]:
    """Remove `connectors` from `data`, remembering each connector's section
    (a later file's section replaces an earlier one whole)."""
    if "connectors" not in data:
        return []
    section = data.pop("connectors")
    if section is None:
        return []
    if not isinstance(section, dict):
        return [
            doc.error(
                "connectors", f"expected a mapping of connectors, got {yamlfile.describe(section)}"
            )
        ]
    errors = []
    for name, body in section.items():
        if name not in CONNECTOR_READERS:
            close = difflib.get_close_matches(name, CONNECTOR_READERS, n=1)
            hint = (
                f" (did you mean {close[0]}?)"
                if close
                else f" (known: {', '.join(CONNECTOR_READERS)})"
            )
            errors.append(doc.error(f"connectors.{name}", f"unknown connector{hint}"))
        elif not isinstance(body, dict):
            errors.append(
                doc.error(
                    f"connectors.{name}", f"expected a mapping, got {yamlfile.describe(body)}"
                )
            )
        else:
            found[name] = doc
    return errors


def _read_connector(
    name: str, doc: Located | None, env: Mapping[str, str]
) -> ConnectorSettings | None:
    """One connector's section: runner keys here, the rest through the connector's read_config.
    Scalar keys can be set by SHIFTDESK_CONNECTORS_<NAME>_<KEY>."""
    reader, settings_cls = CONNECTOR_READERS[name]
    key = f"connectors.{name}"
    hints = get_type_hints(settings_cls)
    scalar = {
        **{n: info.annotation for n, info in ConnectorRunner.model_fields.items()},
        **{
            f.name: hints[f.name]
            for f in fields(settings_cls)
            if hints[f.name] in (str, int, float, bool)
        },
    }
    overrides: dict[str, Any] = {}
    errors: list[FileError] = []
    for item, kind in scalar.items():
        var = env_name(f"{key}.{item}")
        if var in env:
            try:
                overrides[item] = _from_env(var, env[var], kind)
            except FileError as exc:
                errors.append(exc)
    if errors:
        raise FileErrors(errors)
    if doc is None:
        if not overrides:
            return None
        doc = Located(f"environment variables {env_name(key)}_*", {"connectors": {name: {}}}, {})
    body = {**doc.data["connectors"][name], **overrides}

    runner_keys = {k: body.pop(k) for k in ConnectorRunner.model_fields if k in body}
    runner = ConnectorRunner()
    try:
        runner = schema.validate(
            ConnectorRunner, runner_keys, lambda k, why: doc.error(f"{key}.{k}", why)
        )
    except FileErrors as exc:
        errors.extend(exc.errors)
    # The connector reads its own keys from a view of the file without the runner's.
    view = Located(doc.path, {"connectors": {name: body}}, doc.lines)
    try:
        settings = reader(view, key)
    except FileErrors as exc:
        errors.extend(exc.errors)
    except FileError as exc:
        errors.append(exc)
    if errors:
        raise FileErrors(errors)
    return ConnectorSettings(name, runner.enabled, runner.poll_interval_seconds, settings)
