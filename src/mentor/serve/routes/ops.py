"""Operations: ``GET /health`` (open; details for a caller with a key), ``GET /metrics`` and the
OpenAPI schema ``GET /openapi.json`` (both behind the key, like the rest of the API)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from mentor.engine.pool import canonical
from mentor.serve.auth import BEARER
from mentor.serve.schemas import Health
from mentor.serve.state import State

health_router = APIRouter(tags=["operations"])
router = APIRouter(tags=["operations"])


@health_router.get("/health", response_model=Health, response_model_exclude_none=True)
async def health(st: State, request: Request) -> Health:
    """``status`` for anyone (a load balancer's probe needs no key); with a valid key, or none
    configured, also the serving version, queue depth, requests in flight and loaded adapters."""
    out = Health(status="ok" if st.started else "starting")
    creds = await BEARER(request)  # read here, not declared: the route itself needs no key
    if st.keys.authorized(request, creds):
        out.serving_version = canonical(st.serving_seen or "base")
        out.queue_depth = st.batcher.depth
        out.in_flight = st.in_flight
        out.adapters_loaded = st.pool.loaded()
    return out


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"description": "Prometheus text format.", "content": {CONTENT_TYPE_LATEST: {}}},
    },
)
async def metrics(st: State) -> Response:
    """Prometheus metrics of this server (requests, latency, tokens, batches, queue, adapters)."""
    m = st.metrics
    m.queue_depth.set(st.batcher.depth)
    m.in_flight.set(st.in_flight)
    m.adapters.set(len(st.pool.loaded()))
    return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/openapi.json", include_in_schema=False)
async def openapi(request: Request) -> JSONResponse:
    """The schema of this API (FastAPI's own route is off: it would answer without a key)."""
    return JSONResponse(request.app.openapi())
