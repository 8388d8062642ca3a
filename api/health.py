"""`/healthz` (the process answers), `/readyz` (the stores and the model reachable), `/metrics`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.services import Services, services
from rag.common.reasons import one_line
from rag.doctor import check_model_server

router = APIRouter(tags=["health"])
#: seconds each readiness check may take: a probe must answer before its orchestrator gives up
READY_TIMEOUT_S = 2.0

Found = Annotated[Services, Depends(services)]


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is alive (no store is touched)."""
    return {"status": "ok"}


#: what `/readyz` checks, in its body's order
CHECKS = ("relational", "vector", "graph", "model")


@router.get("/readyz", responses={503: {"description": "Something required is down; the body names it"}})
def readyz(
    found: Found,
    require: Annotated[
        str,
        Query(
            description="Comma-separated checks whose failure makes this 503 (default: all of "
            "relational, vector, graph, model). An orchestrator's readiness probe names only what "
            "this replica cannot serve without, e.g. `relational`: a vector store, graph store or "
            "model server that is down for every replica would otherwise take all of them out of "
            "the load balancer, although retrieval answers from the other sources"
        ),
    ] = ",".join(CHECKS),
) -> Any:
    """Each store and the model, each checked quickly; 503 naming what is down when any required
    check fails. Every check is reported either way."""
    required = [name.strip() for name in require.split(",") if name.strip()]
    unknown = sorted(set(required) - set(CHECKS))
    if unknown:
        raise RequestValidationError(
            [
                {
                    "loc": ("query", "require"),
                    "msg": f"unknown checks {unknown}; known: {list(CHECKS)}",
                    "type": "value_error",
                }
            ]
        )
    checks: dict[str, dict[str, Any]] = {}
    for name, store in (
        ("relational", found.stores.sql),
        ("vector", found.stores.vector),
        ("graph", found.stores.graph),
    ):
        try:
            store.health()
            checks[name] = {"ok": True, "detail": store.description}
        except Exception as exc:  # any failure means not ready; the reason is shown, not raised
            checks[name] = {"ok": False, "detail": one_line(exc)}
    # the in-process model's weights are present, or the model server answers (`rag doctor`'s check)
    model = check_model_server(found.settings, READY_TIMEOUT_S)
    checks["model"] = {"ok": model.ok, "detail": model.detail}
    down = [name for name, check in checks.items() if not check["ok"]]
    ready = not set(down) & set(required)
    status = "unavailable" if not ready else "degraded" if down else "ready"
    body = {"status": status, "down": down, "checks": checks}
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Prometheus text format."""
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
