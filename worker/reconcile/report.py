"""A run's result as files: JSON for machines, CSV for finance."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from worker.reconcile.run import RunResult

COLUMNS = (
    "kind",
    "object_type",
    "stripe_id",
    "odoo_model",
    "odoo_ids",
    "action",
    "inbox_id",
    "detail",
)


def write_reports(directory: str, result: RunResult) -> tuple[str, str]:
    """Write ``reconcile-<date>-run<id>.json`` and ``.csv``; return their paths."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / f"reconcile-{result.window.label}-run{result.run_id}"
    json_path = stem.with_suffix(".json")
    csv_path = stem.with_suffix(".csv")
    summary = result.summary()
    summary["report_json"] = str(json_path)
    summary["report_csv"] = str(csv_path)
    rows: list[dict[str, Any]] = [
        {
            "kind": m.kind,
            "object_type": m.object_type,
            "stripe_id": m.stripe_id,
            "odoo_model": m.odoo_model,
            "odoo_ids": m.odoo_ids,
            "action": m.action,
            "inbox_id": m.inbox_id,
            "detail": m.detail,
        }
        for m in result.mismatches
    ]
    json_path.write_text(json.dumps({**summary, "items": rows}, indent=2))
    with csv_path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {
                    **row,
                    "odoo_ids": " ".join(str(i) for i in row["odoo_ids"] or []),
                    "detail": json.dumps(row["detail"], sort_keys=True),
                }
            )
    return str(json_path), str(csv_path)
