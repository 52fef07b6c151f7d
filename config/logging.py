"""Logging setup. Log lines carry ids and sizes, never message text."""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(level=level, format=FORMAT)
    # httpx and urllib3 log request URLs, which can carry tokens (Slack response_url, Discord webhooks).
    for noisy in ("httpx", "urllib3", "slack_sdk", "slack_bolt", "discord.http"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
