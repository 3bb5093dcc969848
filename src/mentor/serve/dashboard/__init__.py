"""The view-only web dashboard (pages + ``/api/dash`` JSON + its own static files)."""

from mentor.serve.dashboard.router import build_router, create_dashboard_app, mount_dashboard

__all__ = ["build_router", "create_dashboard_app", "mount_dashboard"]
