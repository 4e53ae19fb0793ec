"""What every route of ``rpncodec serve`` answers with: the JSON error shape, the security
headers, conditional requests (``If-None-Match`` -> 304) and the refusal a lookup raises."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

SECURITY = {"x-content-type-options": "nosniff", "referrer-policy": "no-referrer"}


class Refused(Exception):
    """A request refused before any decode; ``status`` and the message say why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The one shape of every error response: ``{"error": message}``."""
    return JSONResponse({"error": message}, status_code=status, headers={**SECURITY,
                                                                         **(headers or {})})


def etag_matches(request: Request, etag: str) -> bool:
    """Whether the request's ``If-None-Match`` names ``etag`` (or ``*``)."""
    wanted = request.headers.get("if-none-match")
    if not wanted:
        return False
    tags = {t.strip().removeprefix("W/") for t in wanted.split(",")}
    return "*" in tags or etag in tags


def not_modified(headers: dict[str, str]) -> Response:
    """304, with the validators and caching headers the full response would carry."""
    return Response(status_code=304, headers=headers)
