"""A study's results: its runs' summaries read back, the paper's table and the findings judged
on the median over the seeds (:mod:`pdafpy.study_config` describes the file).

A finding compares two quantities per seed; its direction is reproduced when the median over
the seeds of ``left - right`` has the claimed sign (``<``, ``>``), or, for ``~``, when the median
of ``100 |left - right| / |right|`` is within the tolerance. The change ``100 (left - right) /
|right|`` is reported beside the paper's (median and range).
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from .study_config import STAGES, Quantity, StudySection

__all__ = ["read_summaries", "value_of", "table_rows", "judge_findings", "FindingResult",
           "format_report", "plot_findings", "results_json"]

Summaries = Mapping[str, Mapping[int, Mapping[str, Any]]]       # run -> seed -> summary


def read_summaries(study: StudySection, out: Path, seeds: Sequence[int]) -> dict:
    """Run -> seed -> ``summary.json`` of every finished run under ``out/seed_<seed>/<run>``."""
    found: dict[str, dict[int, Any]] = {}
    for run in study.run:
        for seed in seeds:
            path = out / f"seed_{seed}" / run.name / "summary.json"
            if path.is_file():
                found.setdefault(run.name, {})[seed] = json.loads(path.read_text())
    return found


def value_of(summary: Mapping[str, Any], q: Quantity) -> float:
    """The number ``q`` names in one run's summary (NaN where the summary lacks it)."""
    if q.variable.startswith("parameter:"):
        errors = summary.get("parameter_error", {}).get(q.variable.split(":", 1)[1])
        series = (errors or {}).get("open_loop" if q.stage == "open_loop" else "assimilation")
        if not series:
            return math.nan
        return float(series[0] if q.metric == "first" else series[-1])
    variables = summary.get("variables", {})
    if q.stage.startswith("free_forecast"):
        variables = summary.get("phases", {}).get("free_forecast", {})
    block = variables.get(q.variable, {})
    if q.metric in block:                          # per-variable figures (spread_over_rmse)
        return math.nan if block[q.metric] is None else float(block[q.metric])
    value = block.get(STAGES[q.stage], {}).get(q.metric)
    return math.nan if value is None else float(value)


def _stats(values: Sequence[float]) -> dict[str, Any]:
    good = [v for v in values if not math.isnan(v)]
    if not good:
        return {"median": math.nan, "min": math.nan, "max": math.nan, "values": list(values)}
    return {"median": statistics.median(good), "min": min(good), "max": max(good),
            "values": list(values)}


def table_rows(study: StudySection, summaries: Summaries, seeds: Sequence[int]
               ) -> list[dict[str, Any]]:
    """The paper's table: per row, per column label, the paper's value and the twin's median
    and range over the seeds."""
    rows = []
    runs = study.runs()
    for row in study.table:
        cells = {}
        for label, spec in study.columns.items():
            run, stage = spec.split()
            q = Quantity.parse(f"{run} {stage} {row.variable} {row.metric}", "table", runs)
            values = [value_of(summaries[run][s], q) if s in summaries.get(run, {})
                      else math.nan for s in seeds]
            cells[label] = dict(_stats(values), paper=row.paper.get(label))
        rows.append({"quantity": row.quantity, "variable": row.variable, "metric": row.metric,
                     "cells": cells})
    return rows


@dataclass(frozen=True)
class FindingResult:
    """One finding judged over the seeds."""

    claim: str
    kind: str
    relation: str
    left: dict
    right: dict
    change_percent: dict
    paper_change_percent: float | None
    reproduced: bool | None       # None: a run is missing or a reference value is zero


def judge_findings(study: StudySection, summaries: Summaries, seeds: Sequence[int]
                   ) -> list[FindingResult]:
    """Each finding's left and right quantities per seed, their change and the verdict."""
    runs = study.runs()
    results = []
    for i, f in enumerate(study.finding):
        left = Quantity.parse(f.left, f"study.finding[{i}].left", runs)
        right = Quantity.parse(f.right, f"study.finding[{i}].right", runs)
        lv, rv = ([value_of(summaries[q.run][s], q) if s in summaries.get(q.run, {})
                   else math.nan for s in seeds] for q in (left, right))
        diff = [a - b for a, b in zip(lv, rv)]
        change = [100.0 * d / abs(b) if b else math.nan for d, b in zip(diff, rv)]
        verdict = None
        if diff and not any(math.isnan(c) for c in change):
            if f.relation == "~":
                verdict = statistics.median(abs(c) for c in change) <= f.tolerance_percent
            else:
                m = statistics.median(diff)
                verdict = m < 0 if f.relation == "<" else m > 0
        results.append(FindingResult(f.claim, f.kind, f.relation,
                                     dict(_stats(lv), quantity=str(left)),
                                     dict(_stats(rv), quantity=str(right)), _stats(change),
                                     f.paper_change_percent, verdict))
    return results


def _num(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    if math.isnan(x):
        return "n/a"
    return f"{x:.3g}" if abs(x) < 1000 else f"{x:.0f}"


def _cell(c: Mapping[str, Any]) -> str:
    if math.isnan(c["median"]):
        return "n/a"
    return f"{_num(c['median'])} [{_num(c['min'])}, {_num(c['max'])}]"


def format_report(study: StudySection, rows: Sequence[Mapping[str, Any]],
                  findings: Sequence[FindingResult], seeds: Sequence[int]) -> str:
    """The table and the findings as Markdown (what ``pdafpy study`` prints)."""
    lines = [f"## {study.tag}: {study.title}", "",
             f"Seeds {', '.join(map(str, seeds))}; twin: median [min, max] over the seeds.", ""]
    if rows:
        lines += ["| experiment | " + " | ".join(f"{r['quantity']}: paper | twin"
                                               for r in rows) + " |",
                  "|---|" + "---|---|" * len(rows)]
        for label in study.columns:
            lines.append(f"| {label} | " + " | ".join(
                f"{_num(r['cells'][label]['paper'])} | {_cell(r['cells'][label])}"
                for r in rows) + " |")
        lines.append("")
    if findings:
        lines += ["| finding | kind | twin change [%] | paper [%] | direction |",
                  "|---|---|---|---|---|"]
        for f in findings:
            verdict = {True: "reproduced", False: "NOT reproduced",
                       None: "undecided (a run missing or a zero reference)"}[
                f.reproduced]
            lines.append(f"| {f.claim} | {f.kind} | {_cell(f.change_percent)} | "
                         f"{_num(f.paper_change_percent)} | {verdict} |")
    return "\n".join(lines)


def plot_findings(study: StudySection, findings: Sequence[FindingResult], path: Path) -> None:
    """A PNG of each finding's change (median, range over the seeds) beside the paper's."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(findings)
    if not n:
        return
    fig, ax = plt.subplots(figsize=(8.0, 0.55 * n + 1.4))
    for i, f in enumerate(findings):
        c = f.change_percent
        y = n - 1 - i
        colour = {True: "tab:green", False: "tab:red", None: "tab:gray"}[f.reproduced]
        if not math.isnan(c["median"]):
            ax.errorbar([c["median"]], [y], xerr=[[c["median"] - c["min"]],
                                                  [c["max"] - c["median"]]],
                        fmt="o", color=colour, capsize=3)
        if f.paper_change_percent is not None:
            ax.plot([f.paper_change_percent], [y], "kx")
    ax.axvline(0.0, color="0.6", lw=0.8)
    ax.set_yticks(range(n))
    ax.set_yticklabels([(f.claim[:60] + ("..." if len(f.claim) > 60 else ""))
                        for f in reversed(findings)], fontsize=7)
    ax.set_xlabel("change, 100 (left - right) / |right| [%]\n(o twin median and range, "
                  "x paper)", fontsize=8)
    ax.set_title(f"{study.tag}: findings (green reproduced, red not)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def results_json(study: StudySection, rows: Sequence[Mapping[str, Any]],
                 findings: Sequence[FindingResult], seeds: Sequence[int],
                 walls: Mapping[str, Any]) -> dict[str, Any]:
    """What ``--json`` writes."""
    counted = [f for f in findings if f.kind == "mechanism"]
    return {"study": study.tag, "title": study.title, "seeds": list(seeds),
            "table": list(rows), "findings": [asdict(f) for f in findings],
            "mechanism_findings_reproduced": sum(f.reproduced is True for f in counted),
            "mechanism_findings": len(counted), "wall_s": dict(walls)}
