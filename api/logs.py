"""Logging for `fenster serve` and the commands: plain text by default, one JSON object per line
with ``FENSTER_LOG_FORMAT=json``; feed tokens redacted from logged URLs either way; a request
id on every line written while a request is handled.

JSON lines are rendered by structlog's ProcessorFormatter over the standard library's records,
so uvicorn's access and error logs and fenster's own loggers come out the same way:

    {"event": "GET /healthz HTTP/1.1 200", "logger": "uvicorn.access", "level": "info",
     "timestamp": "2026-11-29T23:40:00.123Z", "request_id": "4bf92f3577b34da6"}
"""

from __future__ import annotations

import copy
import logging
import logging.config
import re
import uuid
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "LOG_FORMATS",
    "REDACTED",
    "REQUEST_ID_HEADER",
    "RedactTokens",
    "RequestId",
    "configure",
    "uvicorn_log_config",
]

LOG_FORMATS = ("text", "json")
REDACTED = "REDACTED"
REQUEST_ID_HEADER = "x-request-id"
# a feed URL carries its group's secret: ?token=... (or &token=...)
_TOKEN = re.compile(r"([?&]token=)[^&#\s]*", re.I)
# a request id a proxy sends is kept only if it is short and plain (it goes into every line)
_GIVEN_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def redact(text: str) -> str:
    return _TOKEN.sub(rf"\g<1>{REDACTED}", text)


class RedactTokens(logging.Filter):
    """Rewrites ``token=<secret>`` in a log record's message and arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def json_formatter() -> logging.Formatter:
    """One JSON object per record, with the bound request id (dictConfig's ``()`` factory)."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )


def _config(fmt: str, level: int) -> dict[str, Any]:
    """A dictConfig for fenster's own loggers (the root): one handler on stderr."""
    if fmt not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, got {fmt!r}")
    formatter = {"()": json_formatter} if fmt == "json" else {"format": _TEXT_FORMAT}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact_tokens": {"()": RedactTokens}},
        "formatters": {"fenster": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "fenster",
                "filters": ["redact_tokens"],
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": level, "handlers": ["stderr"]},
    }


def configure(fmt: str = "text", level: int = logging.WARNING) -> None:
    """Set up logging for a command (`fenster serve` adds uvicorn's loggers on top)."""
    logging.config.dictConfig(_config(fmt, level))


def uvicorn_log_config(fmt: str = "text", level: int = logging.WARNING) -> dict[str, Any]:
    """uvicorn's own logging configuration, redacting tokens; in JSON when asked.

    It also carries fenster's own loggers (the root: background loops, mailer, scheduler) at
    ``level`` (INFO at least in JSON), because uvicorn applies it in every worker process, where
    nothing else configures logging.
    """
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_tokens"] = {"()": RedactTokens}
    for handler in config["handlers"].values():
        handler.setdefault("filters", []).append("redact_tokens")
    if fmt == "json":
        for name in config["formatters"]:
            config["formatters"][name] = {"()": json_formatter}
        for handler in config["handlers"].values():  # every JSON line on one stream
            handler["stream"] = "ext://sys.stderr"
        level = min(level, logging.INFO)
    ours = _config(fmt, level)
    config["formatters"]["fenster"] = ours["formatters"]["fenster"]
    config["handlers"]["fenster"] = ours["handlers"]["stderr"]
    config["root"] = {"level": level, "handlers": ["fenster"]}
    return config


class RequestId:
    """ASGI middleware: a request id for every HTTP request, bound for every log line written
    while it is handled and returned as ``X-Request-ID``. A proxy's id is kept if it is plain."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(REQUEST_ID_HEADER.encode(), b"")
        text = given.decode("latin-1")
        request_id = text if _GIVEN_ID.fullmatch(text) else uuid.uuid4().hex[:16]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() != REQUEST_ID_HEADER.encode()
                ]
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            await self.app(scope, receive, sending)
