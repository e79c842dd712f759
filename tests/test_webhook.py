"""Webhook signatures and body parsing: pure functions, no server needed."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from backend.connectors import webhook
from backend.connectors.webhook import WebhookError, parse, sign, verify

SECRET = "whsec-very-secret"
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
TS = str(int(NOW.timestamp()))


def post(**overrides):
    p = {
        "id": "p1",
        "author": {"id": "u1", "handle": "@jo_k", "display_name": "Jo", "followers": 3},
        "text": "@acme help",
        "created_at": "2026-11-25T08:59:00Z",
        "hashtags": ["#acmefail"],
        "mentions": ["acme"],
        "extra": {"kept": True},
    }
    p.update(overrides)
    return p


def body(obj) -> bytes:
    return json.dumps(obj).encode()


def test_good_signature_passes():
    b = body(post())
    verify(SECRET, TS, sign(SECRET, TS, b), b, NOW)


@pytest.mark.parametrize(
    "ts, sig, message",
    [
        (None, "sha256=" + "0" * 64, "X-Shiftdesk-Timestamp header missing"),
        (TS, None, "X-Shiftdesk-Signature header missing"),
        ("yesterday", "sha256=" + "0" * 64, "X-Shiftdesk-Timestamp: expected Unix seconds"),
        (str(int(NOW.timestamp()) - 301), None, "301 s old, outside the 300 s window"),
        (str(int(NOW.timestamp()) + 400), None, "400 s in the future"),
        (TS, "md5=abc", "X-Shiftdesk-Signature: expected sha256=<64 hex digits>"),
        (TS, "sha256=" + "0" * 64, "X-Shiftdesk-Signature: does not match the body"),
    ],
)
def test_bad_signatures_say_which_header_and_never_the_secret(ts, sig, message):
    b = body(post())
    if sig is None and ts and ts.isdigit() and ts != TS:
        sig = sign(SECRET, ts, b)  # correctly signed, just stale
    with pytest.raises(WebhookError) as err:
        verify(SECRET, ts, sig, b, NOW)
    assert err.value.status == 401 and message in err.value.message
    assert SECRET not in str(err.value)


def test_tampered_body_or_wrong_secret_fails():
    b = body(post())
    good = sign(SECRET, TS, b)
    with pytest.raises(WebhookError, match="does not match"):
        verify(SECRET, TS, good, body(post(text="changed")), NOW)
    with pytest.raises(WebhookError, match="does not match"):
        verify("other-secret", TS, good, b, NOW)


def test_signature_compared_in_constant_time(monkeypatch):
    calls = []
    real = webhook.hmac.compare_digest
    monkeypatch.setattr(
        webhook.hmac, "compare_digest", lambda a, b: calls.append((a, b)) or real(a, b)
    )
    b = body(post())
    verify(SECRET, TS, sign(SECRET, TS, b), b, NOW)
    assert len(calls) == 1


def test_one_post_and_a_list_parse():
    [one] = parse("forum", body(post()), 10_000)
    assert one.platform == "forum" and one.post_id == "p1" and one.author.handle == "jo_k"
    assert (
        one.author.followers == 3
        and one.hashtags == ("acmefail",)
        and one.mentioned_handles == ("acme",)
    )
    assert one.created_at == datetime(2026, 11, 25, 8, 59, tzinfo=UTC)
    assert one.raw["extra"] == {"kept": True}
    many = parse("forum", body({"posts": [post(id=f"p{i}") for i in range(3)]}), 10_000)
    assert [p.post_id for p in many] == ["p0", "p1", "p2"]


@pytest.mark.parametrize(
    "payload, status, message",
    [
        (
            {
                "posts": [
                    post(),
                    post(id="p2"),
                    post(id="p3"),
                    post(id="p4", author={"id": "u", "handle": 7}),
                ]
            },
            422,
            "posts[3].author.handle: expected text",
        ),
        (
            {"posts": [post(created_at="2026-11-25T08:59:00")]},
            422,
            "posts[0].created_at: needs a timezone",
        ),
        (
            {"posts": [post(created_at="soon")]},
            422,
            "posts[0].created_at: expected an ISO 8601 time",
        ),
        (post(id=None), 422, "post.id: missing"),
        (
            post(author={"id": "u", "handle": "x", "followers": -1}),
            422,
            "post.author.followers: expected a whole number",
        ),
        (post(is_direct="yes"), 422, "post.is_direct: expected true or false"),
        (post(hashtags=["ok", 3]), 422, "post.hashtags[1]: expected non-empty text"),
        (post(text="nul \u0000 inside"), 422, "post.text: contains a NUL character"),
        ({"posts": [post(), post()]}, 422, "posts[1].id: 'p1' appears twice"),
        ({"posts": "p1"}, 422, "posts: expected a list"),
        ([post()], 422, "body: expected one post"),
    ],
)
def test_invalid_fields_are_named_and_nothing_is_accepted(payload, status, message):
    with pytest.raises(WebhookError) as err:
        parse("forum", body(payload), 100_000)
    assert err.value.status == status and message in err.value.message


@pytest.mark.parametrize(
    "raw, kwargs, status, message",
    [
        (b"\xff\xfe{}", {}, 400, "body: not UTF-8 (byte 0)"),
        (b'{"id": "1"\x00}', {}, 400, "NUL byte"),
        (b'{"id": ', {}, 400, "body: not JSON"),
        (b"x" * 101, {}, 413, "101 bytes, more than the 100 allowed"),
        (b"{}", {"content_type": "text/plain"}, 415, "expected application/json"),
    ],
)
def test_unreadable_bodies(raw, kwargs, status, message):
    with pytest.raises(WebhookError) as err:
        parse("forum", raw, 100, **kwargs)
    assert err.value.status == status and message in err.value.message


def test_source_name_is_checked_and_json_with_charset_accepted():
    with pytest.raises(WebhookError, match="source"):
        parse("../etc", body(post()), 10_000)
    assert parse("forum", body(post()), 10_000, content_type="application/json; charset=utf-8")
