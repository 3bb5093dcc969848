"""The daemon: inbox scan, queue, job state machine, control, versions, backups, idle work.

``service`` runs the loop; ``launcher`` and ``child`` run each job phase in a process of its
own; ``jobflow`` is the job state machine; ``idle`` the work done when nothing is queued;
``status`` what the daemon shows and ``mentor status`` reads; ``client`` and ``queue`` what
the CLI asks of it (docs/daemon.md has the map).

Layer 4: it may import train/evals/models/data/store/config/paths/errors/monitor, never serve or
the CLI. The daemon and the web server share only ``state.db`` and the workspace files.
"""
