"""``mentor demo``: the whole system on the tiny model (:mod:`.run` drives it, :mod:`.summary`
ends it). Layer 4 beside daemon/analysis: it starts the daemon and the dashboard as child
processes and reads the workspace like any client; it imports neither serve nor the CLI."""
