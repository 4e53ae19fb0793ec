"""uvicorn's HTTP/1.1 protocol with a deadline for receiving each request (slow clients).

uvicorn closes idle kept-alive connections, but a client that sends its request line and
headers a byte at a time (slowloris) holds its connection forever. Here every request must
arrive whole, headers and body, within ``timeout_s`` of its first byte (of the connection,
for the first request); otherwise the connection is closed. The decode that follows a
complete request is bounded separately (the time budget).
"""

from __future__ import annotations

import asyncio

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


class TimedH11Protocol(H11Protocol):
    """:class:`H11Protocol` that closes a connection whose request is not received within
    :attr:`timeout_s`."""

    timeout_s = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline: asyncio.TimerHandle | None = None
        self._arm()

    def _arm(self) -> None:
        self._deadline = self.loop.call_later(self.timeout_s, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self._deadline is None and self.conn.their_state is h11.IDLE:
            self._arm()  # the first bytes of the next request on a kept-alive connection
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE and self.conn.their_state is not h11.SEND_BODY:
            self._disarm()  # the request is complete (or the connection is done)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def timed_protocol(timeout_s: float) -> type[TimedH11Protocol]:
    """The protocol class uvicorn's ``http=`` takes, with this request deadline."""
    return type("TimedH11Protocol", (TimedH11Protocol,), {"timeout_s": timeout_s})
