"""Recap's Slack adapter: a Bolt app (commands, shortcuts, events, actions), history collection,
conversion to dialogue messages, and the worker-side deliverer (``bot.slack_app.deliver``).

Nothing here imports torch: the bot enqueues jobs by dotted path and the worker calls back into
``bot.slack_app.deliver``.
"""
