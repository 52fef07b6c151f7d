"""Pure, platform-neutral dialogue handling: messages -> DialogSum-style model input and back.

No platform SDK, no torch: the bot, the worker and training all import this.
"""

from bot.dialogue.format import Dialogue, format_dialogue, speaker_tag
from bot.dialogue.message import ConversationFormatError, EmptyConversationError, Markup, Message
from bot.dialogue.normalize import attachment_placeholder, normalize_text
from bot.dialogue.parsers import FORMATS, parse_conversation
from bot.dialogue.restore import defuse_links, defuse_mentions, restore_names

__all__ = [
    "FORMATS",
    "ConversationFormatError",
    "Dialogue",
    "EmptyConversationError",
    "Markup",
    "Message",
    "attachment_placeholder",
    "defuse_links",
    "defuse_mentions",
    "format_dialogue",
    "normalize_text",
    "parse_conversation",
    "restore_names",
    "speaker_tag",
]
