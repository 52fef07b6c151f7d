"""Persistence: summaries, feedback, workspace settings (and digest schedules, in bot.store.digest)."""

from bot.store.models import Base, Feedback, SharedDialogue, Summary, WorkspaceSetting
from bot.store.store import SharedExample, Store, StoreError, hash_voter, store_for

__all__ = [
    "Base", "Feedback", "SharedDialogue", "SharedExample", "Store", "StoreError", "Summary",
    "WorkspaceSetting", "hash_voter", "store_for",
]

# Register the digest tables on Base, so every Store creates them at start-up.
import bot.store.digest  # noqa: E402,F401
