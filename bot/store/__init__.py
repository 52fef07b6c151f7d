"""Persistence: summaries, feedback, workspace settings (and digest schedules, in bot.store.digest).

The schema is created and upgraded with Alembic (bot.store.schema, `recap store upgrade`).
"""

from bot.store.errors import StoreError, StoreUnavailableError
from bot.store.models import Base, Feedback, SharedDialogue, StoreMeta, Summary, WorkspaceSetting
from bot.store.store import SharedExample, Store, hash_voter, store_for

__all__ = [
    "Base", "Feedback", "SharedDialogue", "SharedExample", "Store", "StoreError", "StoreMeta",
    "StoreUnavailableError", "Summary", "WorkspaceSetting", "hash_voter", "store_for",
]

# Register the digest and adapter-registry tables on Base (the migrations' target metadata holds every table).
import bot.store.adapters  # noqa: E402,F401
import bot.store.digest  # noqa: E402,F401
