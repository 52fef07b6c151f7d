"""manifest.yml matches what the code listens for, and start-up checks name the missing variable."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.slack_app.commands import COMMAND
from bot.slack_app.runner import check_settings
from bot.slack_app.shortcuts import CALLBACK_ID
from config.settings import ConfigError, Settings

MANIFEST = Path(__file__).resolve().parents[2] / "manifest.yml"


def test_manifest_declares_what_the_app_handles() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text())
    features, settings = manifest["features"], manifest["settings"]
    assert [c["command"] for c in features["slash_commands"]] == [COMMAND]
    assert [s["callback_id"] for s in features["shortcuts"]] == [CALLBACK_ID]
    assert features["shortcuts"][0]["type"] == "message"
    events = set(settings["event_subscriptions"]["bot_events"])
    assert events == {"app_mention", "reaction_added", "reaction_removed"}
    assert settings["interactivity"]["is_enabled"] and settings["socket_mode_enabled"]
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == {
        "app_mentions:read", "channels:history", "groups:history", "im:history", "mpim:history",
        "chat:write", "commands", "reactions:read", "users:read", "files:write", "im:write",
    }


def test_start_up_names_the_missing_token(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="RECAP_SLACK_APP_TOKEN"):
        check_settings(settings.model_copy(update={"slack_mode": "socket", "slack_app_token": None}))
    with pytest.raises(ConfigError, match="RECAP_SLACK_SIGNING_SECRET"):
        check_settings(settings.model_copy(update={"slack_mode": "http", "slack_signing_secret": None}))
    with pytest.raises(ConfigError, match="RECAP_SLACK_BOT_TOKEN"):
        check_settings(settings.model_copy(update={"slack_bot_token": None}))
    check_settings(settings.model_copy(update={"slack_mode": "http"}))


def test_http_mode_serves_slack_events_with_signature_checks(slack_settings: Settings) -> None:
    """`recap slack` in HTTP mode: Bolt's server at /slack/events, verifying every request."""
    import socket
    import threading
    import time
    import urllib.error
    import urllib.request
    from urllib.parse import urlencode

    from slack_sdk.signature import SignatureVerifier

    from bot.slack_app.runner import EVENTS_PATH, run

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    http = slack_settings.model_copy(update={"slack_mode": "http", "slack_port": port})
    threading.Thread(target=run, args=(http,), daemon=True).start()  # serves until the test process ends

    body = urlencode({"command": "/summarize", "text": "what is this", "team_id": "T1", "channel_id": "C1",
                      "user_id": "U1", "trigger_id": "t1", "response_url": "http://127.0.0.1:9/r"})
    stamp = str(int(time.time()))

    def post(signature: str) -> tuple[int, str]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}{EVENTS_PATH}", data=body.encode(), method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": stamp,
                     "X-Slack-Signature": signature})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, ""

    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "the HTTP server did not start"
            time.sleep(0.05)
    good = SignatureVerifier("secret").generate_signature(timestamp=stamp, body=body)
    assert post("v0=" + "0" * 64)[0] == 401
    garbage = urllib.request.Request(f"http://127.0.0.1:{port}{EVENTS_PATH}", data=b"{not json", method="POST",
                                     headers={"Content-Type": "application/json"})
    try:  # Bolt may drop the connection on a body it cannot parse; the server must live on
        urllib.request.urlopen(garbage, timeout=5).close()
    except (urllib.error.URLError, ConnectionError):
        pass
    status, text = post(good)
    assert status == 200 and "Usage:" in text
