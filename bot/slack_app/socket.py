"""Socket Mode (the default): Bolt's handler, with the same shape checks as HTTP mode.

Socket Mode payloads arrive already parsed (no signature, no form encoding), but a payload whose
fields have the wrong types would still fail inside Bolt; it is acknowledged empty and logged by
reason, never by content.
"""

from __future__ import annotations

import logging

from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk.socket_mode.client import BaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from bot.slack_app.bodies import BadRequest, check_shape

log = logging.getLogger("recap.slack.socket")


class CheckedSocketModeHandler(SocketModeHandler):
    def handle(self, client: BaseSocketModeClient, req: SocketModeRequest) -> None:  # type: ignore[override]
        try:
            if not isinstance(req.payload, dict):
                raise BadRequest("the payload must be a JSON object")
            check_shape(req.payload)
        except BadRequest as refused:
            log.info("refused a Socket Mode request: %s", refused.reason)
            client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
            return
        super().handle(client, req)  # type: ignore[arg-type]
