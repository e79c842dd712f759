"""Many open streams: a limit per operator (the oldest closed), presence announced once
per operator and not fanned out on every refresh, so idle sockets cost no work in
proportion to their number (bench/idle_streams.py measures it)."""

from __future__ import annotations

import aiohttp
import pytest

from backend.live import hub as hub_mod
from backend.live.api import STREAM_REPLACED
from tests.processes import until
from tests.test_sessions import _open_stream

pytestmark = pytest.mark.faults


async def test_a_sixth_stream_of_one_operator_closes_the_oldest_and_presence_is_per_operator(
    backend, monkeypatch
):
    monkeypatch.setattr(hub_mod, "OFFLINE_GRACE", 0.2)
    hub = backend.services.hub
    anna, anna_token = await backend.add_operator("anna")
    _, ben_token = await backend.add_operator("ben")
    limit = hub_mod.MAX_STREAMS_PER_OPERATOR
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {anna_token}"}) as a,
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {ben_token}"}) as b,
    ):
        watcher = await _open_stream(b, backend.url)
        streams = [await _open_stream(a, backend.url) for _ in range(limit)]
        assert hub.streams_of(anna.id) == limit
        newest = await _open_stream(a, backend.url)
        seen = []
        while True:  # the close frame's own code (ws.close_code races the closing handshake)
            msg = await streams[0].receive(timeout=5)
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            seen.append(msg.json())
        assert (msg.type, msg.data) == (aiohttp.WSMsgType.CLOSE, STREAM_REPLACED), msg
        assert seen[-1]["type"] == "replaced"
        assert hub.streams_of(anna.id) == limit and not any(s.closed for s in streams[1:])

        # Ben's console heard Anna come online once, for six streams opened.
        async with a.post(
            f"{backend.url}/api/presence", json={"conversation_id": None, "typing": True}
        ) as r:
            assert r.status == 204
        heard = []
        while not heard or heard[-1].get("typing") is not True:
            msg = await watcher.receive_json(timeout=5)
            if msg["type"] == "presence" and msg["operator"]["id"] == anna.id:
                heard.append(msg)
        assert [m["status"] for m in heard] == ["online", "active"]

        # A "still here" refresh reaches every backend's hub but no console.
        refreshed_at = hub._seen[anna.id][0]
        await hub_mod.announce(backend.pool, {**heard[-1], "at": "later"})
        await until(lambda: hub._seen[anna.id][0] > refreshed_at, "the refresh to reach the hub")
        async with a.post(f"{backend.url}/api/presence", json={"typing": False}) as r:
            assert r.status == 204
        msg = await watcher.receive_json(timeout=5)
        assert msg["type"] == "presence" and msg["typing"] is False, msg  # no refresh before it

        # Closing all but one says nothing; closing the last says offline, once, after the grace.
        for ws in [*streams[1:]]:
            await ws.close()
        await newest.close()
        await until(lambda: hub.streams_of(anna.id) == 0, "Anna's streams to be gone")
        msg = await watcher.receive_json(timeout=5)
        assert msg["type"] == "presence" and msg["status"] == "offline", msg
        await watcher.close()
