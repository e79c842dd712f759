"""Connector and webhook sections of config: read by the connectors' own readers,
errors with file:line: key, scalar keys overridable by SHIFTDESK_* variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.config import DEFAULT_CONFIG, load_config
from backend.connectors.mastodon import MastodonConfig
from backend.yamlfile import FileErrors

MASTODON = """connectors:
  mastodon:
    enabled: true
    base_url: https://social.example/
    account: "@acme"
    token_env: SHIFTDESK_MASTODON_TOKEN
    hashtags: ["#acme", acmefail]
    poll_interval_seconds: 15
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "team.yaml"
    path.write_text(text)
    return path


def test_the_shipped_config_configures_both_connectors_switched_off_and_the_simulator_source():
    cfg = load_config(env={})
    assert {n: s.enabled for n, s in cfg.connectors.items()} == {
        "mastodon": False,
        "bluesky": False,
    }
    assert cfg.webhook.sources == {"simulator": "SHIFTDESK_WEBHOOK_SIMULATOR_SECRET"}


def test_a_connector_section_is_read_by_the_connector_with_the_runner_keys_apart(tmp_path):
    cfg = load_config([write(tmp_path, MASTODON)], env={})
    m = cfg.connectors["mastodon"]
    assert m.enabled and m.poll_interval_seconds == 15.0
    assert m.settings == MastodonConfig(
        base_url="https://social.example",
        account="acme",
        token_env="SHIFTDESK_MASTODON_TOKEN",
        hashtags=("acme", "acmefail"),
    )
    assert m.cursor_name == "mastodon:acme" and m.token_env == "SHIFTDESK_MASTODON_TOKEN"
    assert "bluesky" not in cfg.connectors


def test_environment_overrides_scalar_connector_keys(tmp_path):
    env = {
        "SHIFTDESK_CONNECTORS_MASTODON_ENABLED": "false",
        "SHIFTDESK_CONNECTORS_MASTODON_PAGE_LIMIT": "20",
        "SHIFTDESK_WEBHOOK_WINDOW_SECONDS": "60",
    }
    cfg = load_config([write(tmp_path, MASTODON)], env=env)
    assert not cfg.connectors["mastodon"].enabled
    assert cfg.connectors["mastodon"].settings.page_limit == 20
    assert cfg.webhook.window_seconds == 60
    with pytest.raises(FileErrors) as err:
        load_config(
            [write(tmp_path, MASTODON)], env={"SHIFTDESK_CONNECTORS_MASTODON_PAGE_LIMIT": "lots"}
        )
    assert (
        "environment variable SHIFTDESK_CONNECTORS_MASTODON_PAGE_LIMIT: expected a whole number"
        in str(err.value)
    )


def test_mistakes_are_reported_at_their_file_line_and_key(tmp_path):
    text = MASTODON.replace(
        "    poll_interval_seconds: 15\n", "    poll_interval_seconds: soon\n    hashtag: [x]\n"
    ) + (
        "  twitter:\n    enabled: true\n"
        "webhook:\n  window_seconds: 0\n  sources:\n    Partner: X\n    shop: the-secret-itself\n"
    )
    path = write(tmp_path, text)
    with pytest.raises(FileErrors) as err:
        load_config([path], env={})
    text = str(err.value)
    assert (
        f"{path}:8: connectors.mastodon.poll_interval_seconds: expected a number, got 'soon'"
        in text
    )
    assert f"{path}:9: connectors.mastodon.hashtag: unknown setting" in text
    assert f"{path}:10: connectors.twitter: unknown connector" in text
    assert f"{path}:15: webhook.sources.Partner: a source name is 1-32 lowercase" in text
    assert f"{path}:16: webhook.sources.shop: expected the NAME of an environment variable" in text
    assert "the-secret-itself" not in text


def test_a_later_file_replaces_a_connector_section_whole(tmp_path):
    later = tmp_path / "later.yaml"
    later.write_text(MASTODON.replace("https://social.example/", "https://other.example"))
    cfg = load_config([DEFAULT_CONFIG, later], env={})
    assert cfg.connectors["mastodon"].settings.base_url == "https://other.example"
    assert (
        cfg.connectors["mastodon"].settings.search_terms == ()
    )  # not merged from the shipped file
    assert not cfg.connectors["bluesky"].enabled  # untouched sections stay
