"""One schema for what people edit: config and rules files checked by pydantic models,
every problem reported as file:line: key: reason, all at once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pytest
from pydantic import Field

from backend import schema, yamlfile
from backend.config import DEFAULT_CONFIG, load_config
from backend.rulebook import load_templates
from backend.schema import Schema
from backend.sla import policy as sla
from backend.yamlfile import FileErrors


def write(tmp_path: Path, text: str, name: str = "team.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def problems(call, *args, **kw) -> list[str]:
    with pytest.raises(FileErrors) as err:
        call(*args, **kw)
    return str(err.value).splitlines()


# --------------------------------------------------------------------------- config


def test_a_broken_value_names_file_line_key_and_what_was_found(tmp_path):
    path = write(tmp_path, "server:\n  host: 0.0.0.0\n  port: three\n")
    assert problems(load_config, [path], env={}) == [
        f"{path}:3: server.port: expected a whole number, got 'three'"
    ]


def test_quoted_numbers_and_yes_are_not_numbers_in_a_file(tmp_path):
    # Strict on purpose: `pool_max: yes` must not quietly become 1.
    path = write(tmp_path, 'server:\n  port: "8470"\ndatabase:\n  pool_max: yes\n')
    assert problems(load_config, [path], env={}) == [
        f"{path}:2: server.port: expected a whole number, got '8470'",
        f"{path}:4: database.pool_max: expected a whole number, got true",
    ]


def test_an_unknown_key_suggests_the_closest_one_beside_it_or_in_another_section(tmp_path):
    path = write(tmp_path, "server:\n  prot: 8080\n  lease_seconds: 60\nsevrer: {}\n")
    assert problems(load_config, [path], env={}) == [
        f"{path}:2: server.prot: unknown setting (did you mean server.port?)",
        f"{path}:3: server.lease_seconds: unknown setting (did you mean claims.lease_seconds?)",
        f"{path}:4: sevrer: unknown setting (did you mean server?)",
    ]


def test_limits_name_the_allowed_range(tmp_path):
    path = write(
        tmp_path,
        "claims:\n  lease_seconds: 5\nsimulator:\n  publish_failure_rate: 2\n"
        "crisis:\n  factor: 0.5\n",
    )
    assert problems(load_config, [path], env={}) == [
        f"{path}:2: claims.lease_seconds: must be at least 10, got 5",
        f"{path}:4: simulator.publish_failure_rate: must be between 0 and 1, got 2",
        f"{path}:6: crisis.factor: must be more than 1, got 0.5",
    ]


def test_several_problems_in_one_file_are_reported_together_in_file_order(tmp_path):
    path = write(
        tmp_path,
        "database:\n  url: mysql://db\n  pool_min: 0\n"
        "metrics:\n  token_env: my-token\n"
        "webhook:\n  sources:\n    Shop: SHOP_SECRET\n"
        "tui:\n  backend_url: [x]\n",
    )
    assert problems(load_config, [path], env={}) == [
        f"{path}:2: database.url: must start with postgresql://",
        f"{path}:3: database.pool_min: must be at least 1, got 0",
        f"{path}:5: metrics.token_env: expected the NAME of an environment variable holding the token",
        f"{path}:8: webhook.sources.Shop: a source name is 1-32 lowercase letters, digits, - or _",
        f"{path}:10: tui.backend_url: expected text, got a list",
    ]


def test_a_wrong_type_in_an_environment_override_names_the_variable():
    env = {"SHIFTDESK_CLAIMS_LEASE_SECONDS": "soon", "SHIFTDESK_INGEST_LISTENING_WORKER": "maybe"}
    assert problems(load_config, env=env) == [
        "environment variable SHIFTDESK_CLAIMS_LEASE_SECONDS: expected a whole number, got 'soon'",
        "environment variable SHIFTDESK_INGEST_LISTENING_WORKER: expected true or false, got 'maybe'",
    ]


def test_an_environment_value_out_of_range_is_placed_at_the_variable_not_the_file():
    assert problems(load_config, env={"SHIFTDESK_SERVER_PORT": "70000"}) == [
        "environment variable SHIFTDESK_SERVER_PORT: must be between 0 and 65535, got 70000"
    ]


def test_environment_text_is_converted_to_each_settings_type():
    cfg = load_config(
        env={
            "SHIFTDESK_SERVER_PORT": "9000",
            "SHIFTDESK_SIMULATOR_RATE": "1.5",
            "SHIFTDESK_SIMULATOR_ENABLED": "yes",
            "SHIFTDESK_INGEST_LISTENING_WORKER": "",  # an empty variable switches it off
            "SHIFTDESK_DATABASE_URL": "postgresql://db/shiftdesk",
        }
    )
    assert cfg.server.port == 9000 and cfg.simulator.rate == 1.5 and cfg.simulator.enabled
    assert not cfg.ingest.listening_worker
    assert cfg.database.url == "postgresql://db/shiftdesk"


def test_files_are_layered_in_order_and_errors_placed_in_the_file_that_set_the_value(tmp_path):
    later = write(tmp_path, "simulator:\n  rate: 2\ncrisis:\n  min_count: 10\n", "later.yaml")
    cfg = load_config([DEFAULT_CONFIG, later], env={})
    assert cfg.simulator.rate == 2.0 and isinstance(cfg.simulator.rate, float)
    assert cfg.crisis.min_count == 10 and cfg.server.port == 8470  # the rest from the first file
    pools = write(tmp_path, "database:\n  pool_min: 20\n", "pools.yaml")
    assert problems(load_config, [DEFAULT_CONFIG, pools], env={}) == [
        # Checked across settings: placed at pool_max, which the first file set.
        f"{DEFAULT_CONFIG}:14: database.pool_max: pool sizes need 1 <= pool_min <= pool_max"
    ]


def test_a_section_with_every_line_commented_out_is_empty_not_an_error(tmp_path):
    path = write(tmp_path, "simulator:\n  # enabled: true\nserver:\n  port: 9000\n")
    assert load_config([path], env={}).server.port == 9000


def test_the_cross_check_of_the_surge_detector_still_names_its_key(tmp_path):
    path = write(tmp_path, "crisis:\n  window_seconds: 30\n  bucket_seconds: 60\n")
    assert problems(load_config, [path], env={}) == [
        f"{path}:3: crisis.bucket_seconds: bucket must not be longer than window"
    ]


# --------------------------------------------------------------------------- rules files


def test_sla_problems_of_every_kind_come_together():
    text = """warning: {when_elapsed: 75%, at: 3}
targets:
  P1: {first_response: 15m, clock: sometimes}
  P2: {first_response: 15m, next_response: 1h, clok: business_hours}
platforms:
  bluesky:
    P1: {clock: business_hours}
business_hours:
  monday: '08:00-20:00'
holidays: 12-25
"""
    assert problems(sla.policy_from_document, yamlfile.parse(text, "rules/sla.yaml")) == [
        "rules/sla.yaml: time_zone: missing (a time zone name like Europe/Berlin)",
        "rules/sla.yaml:1: warning.at: unknown setting (did you mean warning.when_elapsed?)",
        "rules/sla.yaml:3: targets.P1.next_response: missing (a duration like 15m, 2h or 1h30m)",
        "rules/sla.yaml:3: targets.P1.clock: expected around_the_clock or business_hours, got 'sometimes'",
        "rules/sla.yaml:4: targets.P2.clok: unknown setting (did you mean targets.P2.clock?)",
        "rules/sla.yaml:7: platforms.bluesky.P1.clock: the clock is set per priority under targets, not per platform",
        "rules/sla.yaml:9: business_hours.monday: expected mon, tue, wed, thu, fri, sat or sun, got 'monday'",
        "rules/sla.yaml:10: holidays: expected a list, got '12-25'",
    ]


def test_sla_platform_targets_fill_in_from_the_priority():
    policy = sla.policy_from_document(
        yamlfile.parse(
            "time_zone: UTC\ntargets: {P1: {first_response: 1h, next_response: 2h}}\n"
            "platforms: {bluesky: {P1: {next_response: 5m}}}\nwarning: {before_due: 10m}\n"
            "holidays: [2026-12-24, 12-25]\n"
        )
    )
    assert policy.target("P1", "bluesky") == sla.Target(
        sla.parse_duration("1h"), sla.parse_duration("5m")
    )
    assert policy.warning == sla.WarningRule(before_due=sla.parse_duration("10m"))
    assert policy.holidays and policy.annual_holidays == {(12, 25)}


def test_templates_report_every_problem_with_its_line(tmp_path):
    path = write(
        tmp_path,
        "templates:\n"
        "  - name: delay\n    language: fr\n    text: hi\n"
        "  - name: late\n    language: en\n    text: '  '\n"
        "  - nam: b\n    language: de\n    text: x\n",
        "templates.yaml",
    )
    assert problems(load_templates, path) == [
        f"{path}:3: templates[0].language: expected en or de, got 'fr'",
        f"{path}:7: templates[1].text: must not be empty",
        f"{path}:8: templates[2].name: missing (a short name)",
        f"{path}:8: templates[2].nam: unknown setting (did you mean templates[2].name?)",
    ]


def test_a_template_name_used_twice_is_reported_at_the_second(tmp_path):
    path = write(
        tmp_path,
        "templates:\n  - {name: a, language: en, text: hi}\n  - {name: a, language: de, text: hallo}\n",
        "templates.yaml",
    )
    assert problems(load_templates, path) == [f"{path}:3: templates[1].name: 'a' is used twice"]


def test_shipped_templates_load_with_their_text_on_one_line():
    saved = load_templates(DEFAULT_CONFIG.parent.parent / "rules" / "templates.yaml")
    assert {t.language for t in saved} == {"en", "de"}
    assert all("\n" not in t.text and "  " not in t.text for t in saved)


# --------------------------------------------------------------------------- the adapter


class Inner(Schema):
    count: Annotated[int, Field(ge=1)] = 1
    ratio: float = 0.5


class Outer(Schema):
    inner: Inner = Inner()
    names: list[str] = []


def test_validate_document_reads_a_part_of_a_file_and_prefixes_its_keys():
    doc = yamlfile.parse("other: 1\nmine:\n  inner:\n    count: 0\n    ratio: x\n", "f.yaml")
    assert problems(schema.validate_document, doc, Outer, "mine") == [
        "f.yaml:4: mine.inner.count: must be at least 1, got 0",
        "f.yaml:5: mine.inner.ratio: expected a number, got 'x'",
    ]


def test_from_text_converts_like_an_environment_variable_is_read():
    assert schema.from_text(int, "42") == 42
    assert schema.from_text(bool, "off") is False
    with pytest.raises(ValueError, match="expected a number, got 'lots'"):
        schema.from_text(float, "lots")


def test_dotted_keys_read_like_the_file():
    assert schema.dotted(["targets", "P1", "clock"]) == "targets.P1.clock"
    assert schema.dotted(["templates", 2, "name"]) == "templates[2].name"
