"""Whether a deal is won, from its pipeline's stage definitions.

Stage ids are internal ids, not labels: ``closedwon`` only in the default
pipeline, opaque ids (``1f4f1ec1-…``, ``11348541``) in custom ones, and labels can
be renamed. A stage is won when HubSpot's metadata says it is closed with
probability 1.0; the deal's calculated ``hs_is_closed_won`` is the fallback for a
stage that no pipeline lists.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def find_stage(
    pipelines: Iterable[dict[str, Any]], pipeline_id: str | None, stage_id: str
) -> dict[str, Any] | None:
    """The stage ``stage_id`` of the deal's pipeline (of any, if none is named)."""
    for pipeline in pipelines:
        if pipeline_id and str(pipeline.get("id")) != pipeline_id:
            continue
        for stage in pipeline.get("stages") or []:
            if str(stage.get("id")) == stage_id:
                return stage
    return None


def stage_is_won(stage: dict[str, Any]) -> bool:
    metadata = stage.get("metadata") or {}
    if str(metadata.get("isClosed", "")).lower() != "true":
        return False
    try:
        return float(metadata.get("probability") or 0) == 1.0
    except ValueError:
        return False


def deal_is_won(
    properties: dict[str, Any], pipelines: Iterable[dict[str, Any]]
) -> bool | None:
    """True or False for a deal; None when neither its stage nor its flag says.

    ``properties`` are the deal's (``dealstage``, ``pipeline``,
    ``hs_is_closed_won``), as the CRM API returns them.
    """
    stage_id = str(properties.get("dealstage") or "")
    pipeline_id = str(properties.get("pipeline") or "") or None
    stage = find_stage(pipelines, pipeline_id, stage_id) if stage_id else None
    if stage is not None:
        return stage_is_won(stage)
    flag = str(properties.get("hs_is_closed_won") or "").lower()
    if flag in ("true", "false"):
        return flag == "true"
    return None
