"""The view-only web dashboard: pages, ``/api/dash`` JSON and its own static files.

:mod:`~mentor.serve.dashboard.pages` (pages, static files, reports), :mod:`~.api` (the JSON
endpoints), :mod:`~.views` (read-only views of the workspace, no HTTP), :mod:`~.deps` (workspace and
key check of the routes), :mod:`~.app` (mount into an app, or the app of ``mentor dashboard``).
"""

from mentor.serve.dashboard.app import create_dashboard_app, mount_dashboard

__all__ = ["create_dashboard_app", "mount_dashboard"]
