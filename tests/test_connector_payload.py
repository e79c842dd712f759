"""Profile facts and media marks read from stored platform payloads, both platforms' shapes."""

from __future__ import annotations

from backend.connectors.payload import media_of, plain_text, profile_of

MASTODON_STATUS = {
    "id": "1",
    "account": {
        "id": "9",
        "acct": "jo@social.example",
        "url": "https://social.example/@jo",
        "note": "<p>Baker &amp; cyclist<br/>Berlin</p>",
        "followers_count": 412,
        "statuses_count": 1200,
        "created_at": "2019-03-02T00:00:00.000Z",
    },
    "media_attachments": [{"type": "image"}, {"type": "video"}],
    "card": {"url": "https://example.com"},
}
BLUESKY_POST_VIEW = {
    "uri": "at://did:plc:jo/app.bsky.feed.post/3k",
    "author": {"did": "did:plc:jo", "handle": "jo.bsky.social"},
    "embed": {"$type": "app.bsky.embed.images#view", "images": [{}, {}, {}]},
    "record": {"embed": {"$type": "app.bsky.embed.images", "images": [{}, {}, {}]}},
}


def test_mastodon_status_gives_bio_link_counts_and_attachments():
    assert profile_of(MASTODON_STATUS) == {
        "bio": "Baker & cyclist Berlin",
        "profile_url": "https://social.example/@jo",
        "posts": 1200,
        "followers": 412,
        "account_since": "2019-03-02",
    }
    assert media_of(MASTODON_STATUS) == ["image", "video", "link"]
    # A notification wraps the status: the same answers.
    assert media_of({"type": "mention", "status": MASTODON_STATUS}) == ["image", "video", "link"]


def test_bluesky_post_counts_each_image_once():
    assert media_of(BLUESKY_POST_VIEW) == ["image", "image", "image"]
    assert media_of({"reason": "mention", "post": BLUESKY_POST_VIEW}) == ["image"] * 3
    assert profile_of(BLUESKY_POST_VIEW) == {}


def test_other_shapes_give_nothing_and_never_fail():
    for raw in (None, [], "text", {}, {"account": "x"}, {"media_attachments": "x"}, {"embed": 3}):
        assert media_of(raw) == []
        assert isinstance(profile_of(raw), dict)
    assert profile_of({"account": {"url": "javascript:alert(1)"}}) == {}
    assert plain_text("<p>a</p><p>b</p>") == "a b"
