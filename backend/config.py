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
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, Mapping, get_type_hints

from . import yamlfile
from .yamlfile import FileError, FileErrors

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO_ROOT / "config" / "shiftdesk.yaml"
ENV_PREFIX = "SHIFTDESK_"


@dataclass(frozen=True)
class BrandConfig:
    name: str = "Acme"
    handle: str = "acme"


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = ""            # empty: start the embedded PostgreSQL
    data_dir: str = ""       # embedded PostgreSQL's data; empty: per-user data directory
    name: str = "shiftdesk"  # database created on the embedded server
    pool_min: int = 2
    pool_max: int = 10


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8470


@dataclass(frozen=True)
class RulesConfig:
    dir: str = ""            # empty: the rules/ folder of this checkout


@dataclass(frozen=True)
class SlaConfig:
    first_response_minutes: int = 60


@dataclass(frozen=True)
class ClaimsConfig:
    lease_seconds: int = 300         # a claim lapses this long after the last heartbeat
    reap_interval_seconds: float = 5.0


@dataclass(frozen=True)
class OutboxConfig:
    poll_interval_seconds: float = 1.0
    max_attempts: int = 8
    backoff_base_seconds: float = 1.0
    backoff_cap_seconds: float = 300.0


@dataclass(frozen=True)
class SimulatorConfig:
    enabled: bool = False
    scenario: str = "calm"
    rate: float = 0.2          # mentions per second after the opening burst
    burst: int = 0             # mentions delivered at once on start
    seed: int = 7
    publish_failure_rate: float = 0.0


@dataclass(frozen=True)
class TuiConfig:
    backend_url: str = "http://127.0.0.1:8470"
    token: str = ""            # better given as SHIFTDESK_TUI_TOKEN than written here


@dataclass(frozen=True)
class Config:
    brand: BrandConfig = field(default_factory=BrandConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    server: ServerConfig = field(default_factory=ServerConfig)
    rules: RulesConfig = field(default_factory=RulesConfig)
    sla: SlaConfig = field(default_factory=SlaConfig)
    claims: ClaimsConfig = field(default_factory=ClaimsConfig)
    outbox: OutboxConfig = field(default_factory=OutboxConfig)
    simulator: SimulatorConfig = field(default_factory=SimulatorConfig)
    tui: TuiConfig = field(default_factory=TuiConfig)

    @property
    def rules_dir(self) -> Path:
        return Path(self.rules.dir) if self.rules.dir else REPO_ROOT / "rules"


def _leaf_types(cls: type, prefix: str = "") -> dict[str, type]:
    """Dotted key -> type for every setting."""
    out: dict[str, type] = {}
    hints = get_type_hints(cls)
    for f in fields(cls):
        key = f"{prefix}.{f.name}" if prefix else f.name
        t = hints[f.name]
        if is_dataclass(t):
            out.update(_leaf_types(t, key))
        else:
            out[key] = t
    return out


KEYS = _leaf_types(Config)
SECTIONS = {k.split(".")[0] for k in KEYS}


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
        raise FileError(f"environment variable {var}", "", f"expected {what}, got {raw!r}") from None


def _check_values(cfg: Config, origins: Mapping[str, Any]) -> None:
    """Value checks beyond types, each error placed where the value came from."""
    def bad(key: str, reason: str) -> FileError:
        return _place(origins, key, reason)

    errors = []
    if not 0 < cfg.server.port < 65536 and cfg.server.port != 0:
        errors.append(bad("server.port", f"must be between 1 and 65535, got {cfg.server.port}"))
    if cfg.database.pool_min < 1 or cfg.database.pool_max < cfg.database.pool_min:
        errors.append(bad("database.pool_max", "pool sizes need 1 <= pool_min <= pool_max"))
    if cfg.sla.first_response_minutes <= 0:
        errors.append(bad("sla.first_response_minutes", "must be more than 0"))
    if cfg.claims.lease_seconds < 10:
        errors.append(bad("claims.lease_seconds", "must be at least 10 seconds"))
    if cfg.simulator.rate < 0:
        errors.append(bad("simulator.rate", "cannot be negative"))
    if not 0 <= cfg.simulator.publish_failure_rate <= 1:
        errors.append(bad("simulator.publish_failure_rate", "must be between 0 and 1"))
    if cfg.database.url and not cfg.database.url.startswith(("postgres://", "postgresql://")):
        errors.append(bad("database.url", "must start with postgresql://"))
    if errors:
        raise FileErrors(errors)


def _place(origins: Mapping[str, Any], key: str, reason: str) -> FileError:
    origin = origins.get(key)
    if isinstance(origin, tuple):  # (Located, key) from a file
        doc, k = origin
        return doc.error(k, reason)
    if isinstance(origin, str):    # environment variable name
        return FileError(f"environment variable {origin}", "", reason)
    return FileError("config", key, reason)


def load_config(paths: list[str | Path] | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Defaults, then each file in order, then SHIFTDESK_* environment variables.

    Raises FileErrors listing every problem found.
    """
    env = os.environ if env is None else env
    paths = [DEFAULT_CONFIG] if paths is None else paths
    values: dict[str, Any] = {}
    origins: dict[str, Any] = {}
    errors: list[FileError] = []

    for path in paths:
        try:
            doc = yamlfile.load(path)
        except FileError as exc:
            errors.append(exc)
            continue
        if doc.data is None:
            continue
        if not isinstance(doc.data, dict):
            errors.append(doc.error("", "expected a mapping of sections (brand, database, server, ...)"))
            continue
        for key, value in yamlfile.walk(doc.data):
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

    if errors:
        raise FileErrors(errors)
    cfg = _build(values)
    _check_values(cfg, origins)
    return cfg


def _build(values: dict[str, Any]) -> Config:
    sections: dict[str, dict[str, Any]] = {}
    for key, value in values.items():
        section, _, name = key.partition(".")
        sections.setdefault(section, {})[name] = value
    cfg = Config()
    for section, kw in sections.items():
        cfg = replace(cfg, **{section: replace(getattr(cfg, section), **kw)})
    return cfg
