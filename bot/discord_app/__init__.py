"""Recap's Discord adapter: the bot (`bot.discord_app.bot`), and the worker's deliverer (`.deliver`).

Never name a module `discord` here: it would shadow the discord.py library.
"""
