"""Checking a Slack HTTP request before Bolt sees it: every malformed request gets a short 4xx answer.

Bolt assumes well-formed bodies; given malformed ones it answers 500 or raises before it can answer
(the connection then closes unanswered). What Slack sends is documented: slash commands are form
fields (https://api.slack.com/interactivity/slash-commands#app_command_handling), interactive
payloads a form field ``payload`` holding a JSON object
(https://api.slack.com/reference/interaction-payloads), events a JSON object whose ``event`` is an
object (https://api.slack.com/apis/events-api#callback-field), and every request carries
``X-Slack-Request-Timestamp`` as whole seconds (https://api.slack.com/authentication/verifying-requests-from-slack).
Anything else Slack never sends and gets 400 with a reason; the signature is checked first, so an
unsigned request learns nothing about the body rules (401).

Bolt also picks the interactive parser when the word "payload" appears anywhere in a form body, so
`/summarize payload` (or a channel named #payload) reached no listener. ``SlackRequest`` parses the
body by its fields instead, and keeps doing so for the copies Bolt makes for lazy listeners.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl

from slack_bolt import BoltRequest
from slack_bolt.context.context import BoltContext
from slack_bolt.request.internals import build_context

MAX_CLOCK_SKEW_S = 300  # Slack's own rule: older (or later) timestamps may be replays
MAX_BODY_BYTES = 1_000_000  # Slack's largest payloads (message shortcuts with blocks) are far smaller
_OBJECT_KEYS = ("team", "user", "channel", "enterprise", "container", "message", "view", "item",
                "previous_message", "assistant_thread", "state", "event")
_LIST_KEYS = ("actions", "authorizations")
_SCALAR_KEYS = ("type", "callback_id", "trigger_id", "response_url", "team_id", "user_id", "channel_id",
                "command", "text", "event_id", "api_app_id", "token", "message_ts", "enterprise_id")


class BadRequest(ValueError):
    """A request to refuse with ``status`` and a short ``reason`` (never the body)."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason, self.status = reason, status


def _header(headers: Mapping[str, Any], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            if isinstance(value, Sequence) and not isinstance(value, str):
                return str(value[0]) if value else None
            return str(value)
    return None


def check_signature(raw: bytes, headers: Mapping[str, Any], signing_secret: str) -> None:
    timestamp = _header(headers, "x-slack-request-timestamp")
    signature = _header(headers, "x-slack-signature")
    if timestamp is None or signature is None:
        raise BadRequest("missing Slack signature headers", 401)
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise BadRequest("X-Slack-Request-Timestamp must be whole seconds")
    if abs(time.time() - int(timestamp)) > MAX_CLOCK_SKEW_S:
        raise BadRequest("stale request timestamp", 401)
    # Over the raw bytes, as Slack signs them: slack_sdk's verifier decodes first and fails on non-UTF-8.
    base = b"v0:" + timestamp.encode() + b":" + raw
    expected = "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.encode(errors="replace")):
        raise BadRequest("invalid request signature", 401)


def parse_body(raw: str, content_type: str | None) -> dict[str, Any]:
    """The body as Bolt should see it; BadRequest for what Slack never sends."""
    if not raw:
        return {}
    if (content_type or "").split(";")[0].strip() == "application/json" or raw.lstrip().startswith("{"):
        return _object(raw, "the JSON body")
    fields = dict(parse_qsl(raw, keep_blank_values=True))
    if "payload" in fields:
        return _object(fields["payload"], "the payload field")
    return fields


def _object(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        raise BadRequest(f"{what} is not valid JSON") from None
    if not isinstance(value, dict):
        raise BadRequest(f"{what} must be a JSON object")
    return value


def check_shape(body: Mapping[str, Any]) -> None:
    """The types of the fields Bolt and Recap read, as Slack documents them."""
    for key in _OBJECT_KEYS:
        if key in body and body[key] is not None and not isinstance(body[key], dict):
            if not (key in ("team", "user", "channel", "enterprise") and isinstance(body[key], str)):
                raise BadRequest(f"`{key}` must be an object")
    for key in _LIST_KEYS:
        if key in body and not (isinstance(body[key], list) and all(isinstance(v, dict) for v in body[key])):
            raise BadRequest(f"`{key}` must be a list of objects")
    for key in _SCALAR_KEYS:
        if key in body and body[key] is not None and not isinstance(body[key], str):
            raise BadRequest(f"`{key}` must be a string")
    if body.get("type") == "block_actions" and not body.get("actions"):
        raise BadRequest("block_actions without actions")
    if body.get("type") == "event_callback" and not isinstance(body.get("event"), dict):
        raise BadRequest("event_callback without an event object")
    event = body.get("event")
    if isinstance(event, dict):
        check_shape({k: v for k, v in event.items() if k != "event"})


class SlackRequest(BoltRequest):
    """A BoltRequest whose body was parsed by ``parse_body`` (see the module doc)."""

    def __init__(self, *, body: str | dict[str, Any], parsed: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(body=body if parsed is None else "", **kwargs)
        if parsed is not None and isinstance(body, str):
            self.raw_body = body
            self.body = parsed
            self.context = build_context(BoltContext(kwargs.get("context") or {}), parsed)

    def to_copyable(self) -> SlackRequest:
        return SlackRequest(body=self.raw_body, parsed=self.body, query=self.query, headers=self.headers,
                            context=self.context.to_copyable(), mode=self.mode)


def validated_request(
    raw: bytes, headers: Mapping[str, Any], query: str, signing_secret: str
) -> SlackRequest:
    """The request for ``App.dispatch``, or BadRequest (401 unsigned, 400 malformed, 413 too large)."""
    if len(raw) > MAX_BODY_BYTES:
        raise BadRequest("request body too large", 413)
    check_signature(raw, headers, signing_secret)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the body is not UTF-8") from None
    parsed = parse_body(text, _header(headers, "content-type"))
    check_shape(parsed)
    try:
        return SlackRequest(body=text, parsed=parsed, query=query, headers=dict(headers))
    except (TypeError, KeyError, AttributeError, IndexError, ValueError):
        raise BadRequest("the body does not have the shape Slack sends") from None
