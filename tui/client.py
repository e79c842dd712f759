"""The console's only way to the backend: its HTTP API and its event stream."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp

from .i18n import _, language_headers


class BackendError(Exception):
    """The backend said no, or could not be reached; `message` is for the operator."""

    def __init__(self, message: str, status: int | None = None, body: dict[str, Any] | None = None):
        self.message = message
        self.status = status
        self.body = body or {}
        super().__init__(message)


@dataclass
class StreamStatus:
    """Told to the console when the live stream connects or drops."""

    connected: bool
    detail: str = ""
    retry_in: float = 0.0


@dataclass
class Presence:
    """Another operator started or stopped typing in a conversation (never stored by the backend)."""

    operator_id: int
    operator_name: str
    conversation_id: int | None
    typing: bool


class BackendClient:
    def __init__(
        self, base_url: str, token: str, timeout: float = 10.0, rng: random.Random | None = None
    ):
        # Seeded by tests; the jitter only spreads reconnects of many consoles after a backend restart.
        self._rng = rng or random.Random()
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers={"Authorization": f"Bearer {self._token}"}, timeout=self._timeout
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _call(self, method: str, path: str, **kw: Any) -> Any:
        try:
            # The backend answers in --lang if given, else the operator's profile language,
            # else the console's (its refusals are shown as they come, in the `error` text).
            headers = {**language_headers(), **kw.pop("headers", {})}
            async with self.session.request(
                method, self.base_url + path, headers=headers, **kw
            ) as resp:
                try:
                    body = await resp.json(content_type=None)
                except ValueError:
                    body = {"error": (await resp.text())[:200]}
                if resp.status >= 400:
                    message = body.get("error") if isinstance(body, dict) else None
                    raise BackendError(
                        message or f"HTTP {resp.status}",
                        resp.status,
                        body if isinstance(body, dict) else None,
                    )
                return body
        except aiohttp.ClientError as exc:
            raise BackendError(
                _("Cannot reach the backend at {url}: {error}").format(url=self.base_url, error=exc)
            ) from None
        except TimeoutError:
            raise BackendError(
                _("The backend at {url} did not answer in time.").format(url=self.base_url)
            ) from None

    async def me(self) -> dict[str, Any]:
        return await self._call("GET", "/api/me")

    async def summary(self) -> dict[str, Any]:
        return await self._call("GET", "/api/summary")

    async def operators(self) -> list[dict[str, Any]]:
        return (await self._call("GET", "/api/operators"))["operators"]

    async def templates(self) -> list[dict[str, Any]]:
        """The saved replies: name, language and text with {name}-style placeholders."""
        return (await self._call("GET", "/api/templates"))["templates"]

    async def queue(
        self,
        filter: str = "needs_us",
        offset: int = 0,
        limit: int = 100,
        q: str = "",
        *,
        after: str | None = None,
        before: str | None = None,
    ) -> dict[str, Any]:
        """One page of the queue: from `offset`, or after/before a row's key (the queue's own
        order, `before="end"` for the last page), which costs the backend only the page."""
        params: dict[str, Any] = {"filter": filter, "limit": limit}
        if after is not None:
            params["after"] = after
        elif before is not None:
            params["before"] = before
        else:
            params["offset"] = offset
        if q:
            params["q"] = q
        return await self._call("GET", "/api/queue", params=params)

    async def conversation(self, conversation_id: int) -> dict[str, Any]:
        return await self._call("GET", f"/api/conversations/{conversation_id}")

    async def _act(
        self, conversation_id: int, verb: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return await self._call(
            "POST",
            f"/api/conversations/{conversation_id}/{verb}",
            json=body if body is not None else None,
        )

    async def claim(self, conversation_id: int) -> dict[str, Any]:
        return await self._act(conversation_id, "claim")

    async def release(self, conversation_id: int) -> dict[str, Any]:
        return await self._act(conversation_id, "release")

    async def heartbeat(self, conversation_id: int) -> dict[str, Any]:
        return await self._act(conversation_id, "heartbeat")

    async def claim_next(self) -> dict[str, Any]:
        return await self._call("POST", "/api/claim-next")

    async def advise(
        self, text: str, channel: str, conversation_id: int | None = None
    ) -> list[dict[str, Any]]:
        """The backend's advisories for a draft (tone, personal data); the console never judges text itself."""
        body: dict[str, Any] = {"text": text, "channel": channel}
        if conversation_id is not None:
            body["conversation_id"] = conversation_id
        return (await self._call("POST", "/api/advise", json=body))["findings"]

    async def reply(self, conversation_id: int, text: str, confirm: bool = False) -> dict[str, Any]:
        return await self._act(conversation_id, "reply", {"text": text, "confirm": confirm})

    async def move_to_dm(
        self, conversation_id: int, public_text: str, dm_text: str, confirm: bool = False
    ) -> dict[str, Any]:
        return await self._act(
            conversation_id,
            "move-to-dm",
            {"public_text": public_text, "dm_text": dm_text, "confirm": confirm},
        )

    async def dm(self, conversation_id: int, text: str, confirm: bool = False) -> dict[str, Any]:
        return await self._act(conversation_id, "dm", {"text": text, "confirm": confirm})

    async def resolve(
        self, conversation_id: int, text: str, confirm: bool = False
    ) -> dict[str, Any]:
        return await self._act(conversation_id, "resolve", {"text": text, "confirm": confirm})

    async def house_rules_text(self, conversation_id: int) -> str:
        """The statement `house_rules` would post, to show before it goes."""
        found = await self._call("GET", f"/api/conversations/{conversation_id}/house-rules")
        return str(found.get("text", ""))

    async def house_rules(self, conversation_id: int, text: str | None = None) -> dict[str, Any]:
        return await self._act(conversation_id, "house-rules", {"text": text} if text else {})

    async def dismiss(self, conversation_id: int, reason: str) -> dict[str, Any]:
        return await self._act(conversation_id, "dismiss", {"reason": reason})

    async def add_note(
        self, conversation_id: int, text: str, pinned: bool = False
    ) -> dict[str, Any]:
        return await self._act(conversation_id, "notes", {"text": text, "pinned": pinned})

    async def add_tag(self, conversation_id: int, tag: str) -> dict[str, Any]:
        return await self._act(conversation_id, "tags", {"tag": tag})

    async def remove_tag(self, conversation_id: int, tag: str) -> dict[str, Any]:
        from urllib.parse import quote

        return await self._call(
            "DELETE", f"/api/conversations/{conversation_id}/tags/{quote(tag, safe='')}"
        )

    async def escalate(self, conversation_id: int, reason: str) -> dict[str, Any]:
        return await self._act(conversation_id, "escalate", {"reason": reason})

    async def reassign(self, conversation_id: int, operator_id: int) -> dict[str, Any]:
        return await self._act(conversation_id, "reassign", {"operator_id": operator_id})

    async def sign_out(self, keep_claims: bool) -> list[int]:
        """Leaving: the backend gives back what this operator holds (unless kept) and
        tells the other consoles they are gone."""
        body = {"keep_claims": keep_claims}
        return (await self._call("POST", "/api/sign-out", json=body))["released"]

    async def bulk(
        self, action: str, ids: list[int], *, tag: str | None = None, operator_id: int | None = None
    ) -> list[dict[str, Any]]:
        body: dict[str, Any] = {"action": action, "ids": ids}
        if tag is not None:
            body["tag"] = tag
        if operator_id is not None:
            body["operator_id"] = operator_id
        return (await self._call("POST", "/api/bulk", json=body))["results"]

    async def presence(self, conversation_id: int | None, typing: bool) -> None:
        await self._call(
            "POST", "/api/presence", json={"conversation_id": conversation_id, "typing": typing}
        )

    async def handover(self, since: str | None = None) -> dict[str, Any]:
        params = {"format": "json"}
        if since:
            params["since"] = since
        return await self._call("GET", "/api/handover", params=params)

    async def handover_markdown(self, since: str | None = None) -> str:
        """The handover report as the backend renders it in Markdown (plain text to show literally)."""
        params = {"format": "md", **({"since": since} if since else {})}
        try:
            async with self.session.get(
                self.base_url + "/api/handover",
                params=params,
                headers=language_headers(),
            ) as resp:
                if resp.status >= 400:
                    body = await resp.json(content_type=None)
                    raise BackendError(
                        body.get("error") or f"HTTP {resp.status}", resp.status, body
                    )
                return await resp.text()
        except aiohttp.ClientError as exc:
            raise BackendError(
                _("Cannot reach the backend at {url}: {error}").format(url=self.base_url, error=exc)
            ) from None
        except TimeoutError:
            raise BackendError(
                _("The backend at {url} did not answer in time.").format(url=self.base_url)
            ) from None

    async def shift_start(self) -> dict[str, Any]:
        """Start (or resume) this operator's shift; answers with the latest handover, if any."""
        return await self._call("POST", "/api/shift/start")

    async def shift_end(self, note: str) -> dict[str, Any]:
        return await self._call("POST", "/api/shift/end", json={"note": note})

    async def crisis_groups(self) -> list[dict[str, Any]]:
        """Conversations waiting on us grouped by near-identical complaint: ids, size, topic, example."""
        return (await self._call("GET", "/api/crisis/groups"))["groups"]

    async def holding_statement(
        self,
        template: str,
        conversation_ids: list[int],
        *,
        preview: bool = False,
        confirm: bool = False,
        templates: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Lead only: one personalised holding statement per conversation; per-conversation results.
        `templates`: the statement per language ({"de": ...}) for conversations in it."""
        return await self._call(
            "POST",
            "/api/crisis/holding-statement",
            json={
                "template": template,
                **({"templates": templates} if templates else {}),
                "conversation_ids": conversation_ids,
                "preview": preview,
                "confirm": confirm,
            },
        )

    async def events(self, after: int, limit: int = 500) -> list[dict[str, Any]]:
        return (await self._call("GET", "/api/events", params={"after": after, "limit": limit}))[
            "events"
        ]

    async def stream(self, after: int) -> AsyncIterator[dict[str, Any] | StreamStatus | Presence]:
        """Events after `after`, forever; reconnects with backoff and resumes from the last id seen."""
        last = after
        delay = 0.5
        rng = self._rng
        while True:
            try:
                async with self.session.ws_connect(
                    f"{self.base_url}/api/stream",
                    params={"after": str(last)},
                    heartbeat=20,
                    timeout=aiohttp.ClientWSTimeout(ws_close=5),
                ) as ws:
                    async for msg in ws:
                        if msg.type != aiohttp.WSMsgType.TEXT:
                            break
                        data = msg.json()
                        if data["type"] == "live":
                            delay = 0.5
                            yield StreamStatus(True)
                        elif data["type"] == "event":
                            last = max(last, data["event"]["id"])
                            yield data["event"]
                        elif data["type"] == "presence":
                            op = data.get("operator") or {}
                            yield Presence(
                                op.get("id", 0),
                                op.get("display_name", ""),
                                data.get("conversation_id"),
                                bool(data.get("typing")),
                            )
                        elif data["type"] == "resync":
                            break
                detail = "the backend closed the event stream"
            except (TimeoutError, aiohttp.ClientError, ConnectionError) as exc:
                detail = _("lost the backend ({error})").format(error=exc.__class__.__name__)
            wait = delay * rng.uniform(0.5, 1.0)
            yield StreamStatus(False, detail, wait)
            await asyncio.sleep(wait)
            delay = min(delay * 2, 15)
