"""The API's routers: ``/generate``, the OpenAI-compatible ``/v1/*``, ``/health`` and ``/metrics``.

Each router is module-level and knows nothing of keys: the app factory attaches the key check
when it includes them (:func:`mentor.serve.app.create_app`).
"""
