"""The migration pipeline: extract -> stage -> transform -> plan -> load, one module a stage.

``transform`` and ``plan`` are pure (no I/O, no httpx, no SQLite); ``run`` orders the stages.
"""
