"""Server-sent events (text/event-stream), as Mastodon's streaming API sends them.

    :)                              <- a comment: the stream is open
    event: notification
    data: {"id": "14", ...}
                                    <- a blank line ends an event
    :thump                          <- a heartbeat, every ~15 s

Pure: lines in, events out; the caller owns the connection.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Event:
    name: str  # "message" when the server named none (the SSE default)
    data: str


class SseParser:
    """Feed it decoded lines (with or without their line ending); it returns
    each event once its closing blank line arrives."""

    def __init__(self) -> None:
        self._name = ""
        self._data: list[str] = []
        self.comments = 0  # heartbeats and the opening ":)" seen so far

    def feed(self, line: str) -> Event | None:
        line = line.rstrip("\r\n")
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            self.comments += 1
            return None
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "event":
            self._name = value
        elif field == "data":
            self._data.append(value)
        # id and retry: Mastodon sends neither, and we resume by polling, not Last-Event-ID.
        return None

    def _dispatch(self) -> Event | None:
        name, data = self._name or "message", self._data
        self._name, self._data = "", []
        if not data:
            return None  # an event with no data is dropped, as the spec says
        return Event(name, "\n".join(data))
