"""The model side of Recap: the shared prompt, the runtime, long-input map-reduce and a tiny test T5.

Import the submodules directly (``worker.model.prompt`` stays free of torch, so training tooling and
the CLI can use it without loading a model).
"""
