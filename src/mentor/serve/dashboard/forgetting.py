"""The dashboard's forgetting matrix: ``GET /api/dash/forgetting`` (read-only, like every
dashboard endpoint), drawn by the Forgetting page."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict

from mentor.evals.forgetting_matrix import matrix
from mentor.serve.dashboard.deps import Dash, api_key
from mentor.serve.schemas import errors
from mentor.store import connect_readonly


def _no_store(response: Response) -> None:
    response.headers["Cache-Control"] = "no-store"


router = APIRouter(
    prefix="/api/dash",
    tags=["dashboard"],
    dependencies=[Depends(api_key), Depends(_no_store)],
    responses=errors(401, 500),
)


class Matrix(BaseModel):
    """``evals.forgetting_matrix.matrix``: files x versions, a cell per scored pair (or null)."""

    model_config = ConfigDict(extra="allow")
    lineage_id: int | None
    versions: list[str]
    files: list[dict[str, Any]]
    cells: list[list[dict[str, Any] | None]]


def forgetting_data(dash: Dash, lineage: int | None = None) -> dict[str, Any]:
    """The matrix of ``lineage`` (default: the one scored last); empty before any version."""
    conn = connect_readonly(dash.ws.db)
    if conn is None:
        return {"lineage_id": None, "versions": [], "files": [], "cells": []}
    try:
        return matrix(conn, lineage)
    finally:
        conn.close()


SQLITE_INT_MAX = 2**63 - 1  # a larger id is refused (400), not an OverflowError in SQLite (a 500)


@router.get("/forgetting", response_model=Matrix)
def forgetting(
    dash: Dash,
    lineage: int | None = Query(None, ge=1, le=SQLITE_INT_MAX, description="Lineage id."),
) -> Any:
    return forgetting_data(dash, lineage)
