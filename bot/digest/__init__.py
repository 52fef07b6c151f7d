"""Daily channel digests, platform-neutral: schedules (DST-safe), the leader-elected scheduler, splitting a
channel's day into conversations, rendering the post, and the channel controls.

Platform specifics live in `bot.slack_app.digest` and `bot.discord_app.digest` (see `bot.digest.platforms`).
"""
