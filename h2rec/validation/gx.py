"""Run Great Expectations 1.x suites on in-memory tables and turn failures into clear errors.

A check is a (table name, DataFrame, expectations) triple. Every check of a stage runs, the
whole result is saved as a JSON report, and if any expectation failed a `ValidationFailed`
names each one with its count of bad rows and a few examples.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import great_expectations as gx
import great_expectations.expectations as gxe
import pandas as pd
from great_expectations.data_context.types.base import ProgressBarsConfig

from h2rec.errors import ValidationFailed
from h2rec.io import write_json

log = logging.getLogger(__name__)


@dataclass
class Check:
    table: str
    frame: pd.DataFrame
    expectations: list[gxe.Expectation]


def _context():
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    return ctx


def _describe(result: Any) -> dict:
    cfg = result.expectation_config
    res = result.result or {}
    kwargs = {k: v for k, v in cfg.kwargs.items() if k not in ("batch_id",)}
    examples = res.get("partial_unexpected_list") or []
    if not examples and "observed_value" in res:
        examples = [res["observed_value"]]
    return {
        "expectation": cfg.type,
        "kwargs": _short(kwargs),
        "success": bool(result.success),
        "unexpected_count": res.get("unexpected_count"),
        "unexpected_percent": res.get("unexpected_percent"),
        "examples": _short(examples[:5]),
        "exception": (result.exception_info or {}).get("exception_message") if isinstance(result.exception_info, dict) else None,
    }


def _short(value: Any) -> Any:
    """Keep reports readable: value_set kwargs can hold a whole catalogue."""
    if isinstance(value, dict):
        return {k: _short(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)) and len(value) > 20:
        return f"<{len(value)} values>"
    if isinstance(value, (list, tuple)):
        return [_short(v) for v in value]
    if hasattr(value, "item"):
        return value.item()
    return value


def run_checks(suite_name: str, checks: list[Check], report_path: Path | str) -> dict:
    """Validate every check, write the report, raise `ValidationFailed` on any failure."""
    ctx = _context()
    source = ctx.data_sources.add_pandas(f"{suite_name}_source")
    report: dict = {"suite": suite_name, "success": True, "tables": {}}
    for check in checks:
        batch_def = source.add_dataframe_asset(check.table).add_batch_definition_whole_dataframe("all")
        suite = ctx.suites.add(gx.ExpectationSuite(name=f"{suite_name}.{check.table}"))
        for expectation in check.expectations:
            suite.add_expectation(expectation)
        vd = ctx.validation_definitions.add(
            gx.ValidationDefinition(name=f"{suite_name}.{check.table}", data=batch_def, suite=suite)
        )
        outcome = vd.run(batch_parameters={"dataframe": check.frame})
        results = [_describe(r) for r in outcome.results]
        report["tables"][check.table] = {
            "rows": len(check.frame),
            "success": bool(outcome.success),
            "results": results,
        }
        report["success"] &= bool(outcome.success)
    write_json(report, report_path)
    if not report["success"]:
        raise ValidationFailed(failure_message(report, report_path), str(report_path))
    log.info("validation suite %s passed (%s)", suite_name, report_path)
    return report


def failure_message(report: dict, report_path: Path | str) -> str:
    lines = [f"data validation '{report['suite']}' failed:"]
    for table, tres in report["tables"].items():
        for r in tres["results"]:
            if r["success"]:
                continue
            column = r["kwargs"].get("column") or r["kwargs"].get("column_list") or ""
            count = r["unexpected_count"]
            what = f"{count} bad row(s) of {tres['rows']}" if count is not None else "failed"
            detail = f"; e.g. {r['examples']}" if r["examples"] else ""
            if r["exception"]:
                detail += f"; error: {r['exception']}"
            lines.append(f"  - {table}: {r['expectation']}({column}): {what}{detail}")
    lines.append(f"Full report: {report_path}. Nothing downstream was run or overwritten.")
    return "\n".join(lines)
