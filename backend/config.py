"""How shiftdesk runs: `config/shiftdesk.yaml`, overridable by environment.

Every key has a default here, so a config file only says what differs. Any
key can be overridden by an environment variable named after it:
`database.url` -> `SHIFTDESK_DATABASE_URL`, `server.port` ->
`SHIFTDESK_SERVER_PORT`. Unknown keys, wrong types and bad values stop
start-up with the file, the line, the key and what is wrong.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, get_type_hints

from backend import yamlfile
from backend.connectors import bluesky as bluesky_connector
from backend.connectors import mastodon as mastodon_connector
from backend.yamlfile import FileError, FileErrors, Located

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO_ROOT / "config" / "shiftdesk.yaml"
ENV_PREFIX = "SHIFTDESK_"


@dataclass(frozen=True)
class BrandConfig:
    name: str = "Acme"
    handle: str = "acme"


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = ""  # empty: start the embedded PostgreSQL
    data_dir: str = ""  # embedded PostgreSQL's data; empty: per-user data directory
    name: str = "shiftdesk"  # database created on the embedded server
    pool_min: int = 2
    pool_max: int = 10


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8470


@dataclass(frozen=True)
class RulesConfig:
    dir: str = ""  # empty: the rules/ folder of this checkout


@dataclass(frozen=True)
class ClaimsConfig:
    lease_seconds: int = 300  # a claim lapses this long after the last heartbeat
    reap_interval_seconds: float = 5.0
    # After a public reply or a move to DM the operator keeps the conversation this long
    # while the customer has the turn (a shift); signing out gives it back sooner.
    waiting_lease_seconds: int = 28800
    # When the customer answers, it is claimed for its operator this long; then the queue.
    owner_first_seconds: int = 300


@dataclass(frozen=True)
class OutboxConfig:
    poll_interval_seconds: float = 1.0
    max_attempts: int = 8
    backoff_base_seconds: float = 1.0
    backoff_cap_seconds: float = 300.0
    window: int = 64  # replies being sent at once (a slow platform holds one slot each)


@dataclass(frozen=True)
class IngestConfig:
    # Listening (matching, enrichment, checks) for big batches runs in a second
    # process, on another core, while the backend stores the previous batch and
    # answers operators; small batches are cheaper to listen to in place.
    listening_worker: bool = True
    worker_min_batch: int = 50


@dataclass(frozen=True)
class SimulatorConfig:
    enabled: bool = False
    scenario: str = "calm"
    rate: float = 0.2  # mentions per second after the opening burst
    burst: int = 0  # mentions delivered at once on start
    seed: int = 7
    publish_failure_rate: float = 0.0


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
# Keys of a connector section that belong to the runner, not to the connector.
RUNNER_KEYS: dict[str, type] = {"enabled": bool, "poll_interval_seconds": float}
DEFAULT_POLL_INTERVAL = 30.0

_ENV_VAR = re.compile(r"[A-Z_][A-Z0-9_]*")
_SOURCE = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")  # as the /ingest/{source} route accepts


@dataclass(frozen=True)
class WebhookConfig:
    """POST /ingest/{source}: each source signs with a secret held in an environment variable."""

    max_body_bytes: int = 1024 * 1024
    window_seconds: int = 300  # how old (or new) a signed timestamp may be
    # source name -> NAME of the environment variable holding its secret
    sources: dict[str, str] = field(default_factory=dict, metadata={"own_reader": True})


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


@dataclass(frozen=True)
class CrisisConfig:
    """Surge detection (backend/crisis/surge.py): negative mentions against a rolling baseline."""

    negative_below: float = (
        -0.25
    )  # a mention this negative (sentiment -1..1) counts towards a surge
    window_seconds: float = 300.0  # how far back "now" looks
    baseline_seconds: float = 3600.0  # what "usual" is measured over
    factor: float = 3.0  # how many times usual counts as a surge
    min_count: int = 20  # fewer negatives in a window is never a crisis
    cool_down_seconds: float = 600.0  # calm this long before the crisis ends
    release: float = 0.5  # calm = below this share of the start threshold
    bucket_seconds: float = 10.0  # counting resolution, and how often the watch checks

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


@dataclass(frozen=True)
class MetricsConfig:
    """GET /metrics: aggregate numbers only. Empty token_env: open (bind the backend to a private
    network); set it to the NAME of an environment variable and scrapers must send that bearer token."""

    token_env: str = ""


@dataclass(frozen=True)
class TuiConfig:
    backend_url: str = "http://127.0.0.1:8470"
    token: str = ""  # better given as SHIFTDESK_TUI_TOKEN than written here


@dataclass(frozen=True)
class Config:
    brand: BrandConfig = field(default_factory=BrandConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    server: ServerConfig = field(default_factory=ServerConfig)
    rules: RulesConfig = field(default_factory=RulesConfig)
    claims: ClaimsConfig = field(default_factory=ClaimsConfig)
    outbox: OutboxConfig = field(default_factory=OutboxConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    simulator: SimulatorConfig = field(default_factory=SimulatorConfig)
    tui: TuiConfig = field(default_factory=TuiConfig)
    webhook: WebhookConfig = field(default_factory=WebhookConfig)
    crisis: CrisisConfig = field(default_factory=CrisisConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    # Polling connectors by name; only the ones configured are present.
    connectors: dict[str, ConnectorSettings] = field(
        default_factory=dict, metadata={"own_reader": True}
    )

    @property
    def rules_dir(self) -> Path:
        return Path(self.rules.dir) if self.rules.dir else REPO_ROOT / "rules"


def _leaf_types(cls: type, prefix: str = "") -> dict[str, type]:
    """Dotted key -> type for every setting."""
    out: dict[str, type] = {}
    hints = get_type_hints(cls)
    for f in fields(cls):
        if f.metadata.get("own_reader"):
            continue  # nested sections with their own reader (connectors, webhook.sources)
        key = f"{prefix}.{f.name}" if prefix else f.name
        t = hints[f.name]
        if isinstance(t, type) and is_dataclass(t):
            out.update(_leaf_types(t, key))
        else:
            out[key] = t
    return out


KEYS = _leaf_types(Config)
OWN_READERS = ("connectors", "webhook.sources")
SECTIONS = {k.split(".")[0] for k in KEYS} | {k.split(".")[0] for k in OWN_READERS}


def env_name(key: str) -> str:
    return ENV_PREFIX + key.replace(".", "_").upper()


def _coerce_env(var: str, raw: str, kind: type) -> Any:
    if kind is str:
        return raw
    if kind is bool:
        low = raw.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off", ""):
            return False
        raise FileError(f"environment variable {var}", "", f"expected true or false, got {raw!r}")
    try:
        return kind(raw)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise FileError(
            f"environment variable {var}", "", f"expected {what}, got {raw!r}"
        ) from None


def _check_values(cfg: Config, origins: Mapping[str, Any]) -> None:
    """Value checks beyond types, each error placed where the value came from."""

    def bad(key: str, reason: str) -> FileError:
        return _place(origins, key, reason)

    errors = []
    if not 0 < cfg.server.port < 65536 and cfg.server.port != 0:
        errors.append(bad("server.port", f"must be between 1 and 65535, got {cfg.server.port}"))
    if cfg.database.pool_min < 1 or cfg.database.pool_max < cfg.database.pool_min:
        errors.append(bad("database.pool_max", "pool sizes need 1 <= pool_min <= pool_max"))
    if cfg.claims.lease_seconds < 10:
        errors.append(bad("claims.lease_seconds", "must be at least 10 seconds"))
    if cfg.simulator.rate < 0:
        errors.append(bad("simulator.rate", "cannot be negative"))
    if not 0 <= cfg.simulator.publish_failure_rate <= 1:
        errors.append(bad("simulator.publish_failure_rate", "must be between 0 and 1"))
    if cfg.database.url and not cfg.database.url.startswith(("postgres://", "postgresql://")):
        errors.append(bad("database.url", "must start with postgresql://"))
    if cfg.webhook.max_body_bytes < 1024:
        errors.append(bad("webhook.max_body_bytes", "must be at least 1024"))
    if cfg.webhook.window_seconds < 1:
        errors.append(bad("webhook.window_seconds", "must be at least 1 second"))
    if not -1 <= cfg.crisis.negative_below <= 1:
        errors.append(
            bad("crisis.negative_below", "must be between -1 and 1 (sentiment runs from -1 to 1)")
        )
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
    if cfg.metrics.token_env and not _ENV_VAR.fullmatch(cfg.metrics.token_env):
        errors.append(
            bad(
                "metrics.token_env",
                "expected the NAME of an environment variable holding the token",
            )
        )
    if errors:
        raise FileErrors(errors)


def _place(origins: Mapping[str, Any], key: str, reason: str) -> FileError:
    origin = origins.get(key)
    if isinstance(origin, tuple):  # (Located, key) from a file
        doc, k = origin
        return doc.error(k, reason)
    if isinstance(origin, str):  # environment variable name
        return FileError(f"environment variable {origin}", "", reason)
    return FileError("config", key, reason)


def load_config(
    paths: list[str | Path] | None = None, env: Mapping[str, str] | None = None
) -> Config:
    """Defaults, then each file in order, then SHIFTDESK_* environment variables.

    Raises FileErrors listing every problem found.
    """
    env = os.environ if env is None else env
    paths = [DEFAULT_CONFIG] if paths is None else paths
    values: dict[str, Any] = {}
    origins: dict[str, Any] = {}
    errors: list[FileError] = []
    connector_docs: dict[str, Located] = {}  # the last file that defines each connector
    sources: dict[str, str] = {}

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
        errors += _take_webhook_sources(doc, data, sources)
        for key, value in yamlfile.walk(data):
            if key not in KEYS:
                section = key.split(".")[0]
                if isinstance(value, dict) and not value and section in SECTIONS:
                    continue
                close = difflib.get_close_matches(key, KEYS, n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                errors.append(doc.error(key, f"unknown setting{hint}"))
                continue
            try:
                yamlfile.expect(doc, key, value, KEYS[key])
            except FileError as exc:
                errors.append(exc)
                continue
            values[key] = float(value) if KEYS[key] is float else value
            origins[key] = (doc, key)

    for key, kind in KEYS.items():
        var = env_name(key)
        if var in env:
            try:
                values[key] = _coerce_env(var, env[var], kind)
                origins[key] = var
            except FileError as exc:
                errors.append(exc)

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

    if errors:
        raise FileErrors(errors)
    cfg = _build(values)
    cfg = replace(cfg, connectors=connectors, webhook=replace(cfg.webhook, sources=sources))
    _check_values(cfg, origins)
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


def _take_webhook_sources(
    doc: Located, data: dict[str, Any], sources: dict[str, str]
) -> list[FileError]:
    """Remove `webhook.sources` from `data` and check it: source name -> env var NAME."""
    webhook = data.get("webhook")
    if not isinstance(webhook, dict) or "sources" not in webhook:
        return []
    webhook = dict(webhook)
    raw = webhook.pop("sources")
    data["webhook"] = webhook
    if raw is None:
        return []
    if not isinstance(raw, dict):
        return [
            doc.error(
                "webhook.sources",
                f"expected a mapping of source name to environment variable name, "
                f"got {yamlfile.describe(raw)}",
            )
        ]
    errors = []
    for name, var in raw.items():
        key = f"webhook.sources.{name}"
        if not _SOURCE.fullmatch(str(name)):
            errors.append(doc.error(key, "a source name is 1-32 lowercase letters, digits, - or _"))
        elif not isinstance(var, str) or not _ENV_VAR.fullmatch(var):
            errors.append(
                doc.error(
                    key,
                    "expected the NAME of an environment variable holding the secret "
                    "(the secret itself never goes in a file)",
                )
            )
        else:
            sources[str(name)] = var
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
        **RUNNER_KEYS,
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
                overrides[item] = _coerce_env(var, env[var], kind)
            except FileError as exc:
                errors.append(exc)
    if errors:
        raise FileErrors(errors)
    if doc is None:
        if not overrides:
            return None
        doc = Located(f"environment variables {env_name(key)}_*", {"connectors": {name: {}}}, {})
    body = {**doc.data["connectors"][name], **overrides}

    runner: dict[str, Any] = {"enabled": True, "poll_interval_seconds": DEFAULT_POLL_INTERVAL}
    for item, kind in RUNNER_KEYS.items():
        if item in body:
            value = body.pop(item)
            try:
                yamlfile.expect(doc, f"{key}.{item}", value, kind)
            except FileError as exc:
                errors.append(exc)
                continue
            runner[item] = float(value) if kind is float else value
    if runner["poll_interval_seconds"] <= 0:
        errors.append(doc.error(f"{key}.poll_interval_seconds", "must be more than 0"))
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
    return ConnectorSettings(name, runner["enabled"], runner["poll_interval_seconds"], settings)


def _build(values: dict[str, Any]) -> Config:
    sections: dict[str, dict[str, Any]] = {}
    for key, value in values.items():
        section, _, name = key.partition(".")
        sections.setdefault(section, {})[name] = value
    cfg = Config()
    for section, kw in sections.items():
        cfg = replace(cfg, **{section: replace(getattr(cfg, section), **kw)})
    return cfg
