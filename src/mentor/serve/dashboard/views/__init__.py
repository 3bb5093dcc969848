"""Read-only views of the workspace for the dashboard, one module per thing shown.

Every function takes the workspace and returns plain JSON-able data; nothing here writes or
speaks HTTP. ``state.db`` is read only through :mod:`mentor.store` on a read-only connection
(:mod:`.db`), files through :class:`~mentor.paths.RunFolder` and the cached JSONL reader
(:mod:`.jsonl`). Run and report names are looked up in directory listings, never joined from
user input.

:mod:`.runs` (run folders, the lineage's runs), :mod:`.overview` (cards, progress, the lineage's
curves), :mod:`.live`, :mod:`.evolution`, :mod:`.tables` (queue, events, alerts, evals,
versions), :mod:`.reports`, :mod:`.analysis` (curve and comparison from ``mentor.analysis``).
"""
