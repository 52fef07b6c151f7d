"""Several adapters served at once: the registry, per-workspace routing, and A/B experiments.

Torch-free (the bot imports it); the worker's side is `worker.model.adapter_pool` and `worker.adapter_jobs`.
"""
