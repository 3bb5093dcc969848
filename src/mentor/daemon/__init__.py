"""The daemon: inbox scan, queue, job state machine, control, versions, backups, scheduler.

Layer 4: it may import train/evals/models/data/store/config/paths/errors/monitor, never serve or
the CLI. The daemon and the web server share only ``state.db`` and the workspace files.
"""
