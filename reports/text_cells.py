"""Text cells that check the wiring (data, tokenizer, training, sampling, scoring): their final metrics.

No paper figure: these cells are too small to say anything about the paper's claims, and the
section says so; it exists so that a smoke run shows every text path produced numbers.
"""

from __future__ import annotations

import html

from reports.htmlkit import runs_details
from reports.runs import RunRecord

TITLE = "Text cells: wiring check (tiny models, a few dozen steps; not a reproduction)"
PAPER = ""  # not a figure of the paper
SUMMARY = ("eval/self_bleu", "eval/per_token_entropy", "eval/mean_length")


def render(runs: list[RunRecord], history=None) -> str:
    """One row per cell: task, algorithm, model, the task's eval metrics, then diversity and length."""
    headers = ["task", "algorithm", "model", "task metrics", "Self-BLEU", "entropy (nats)", "mean length", "MLflow run"]

    def cells(r: RunRecord) -> list[str]:
        task_metrics = sorted(
            k for k in r.metrics if k.startswith("eval/") and k not in SUMMARY and not k.startswith("eval/reward")
        )
        shown = ", ".join(f"{k[5:]} {r.metrics[k]:.2f}" for k in task_metrics)
        return [
            html.escape(r.params.get("task", "")), html.escape(r.params.get("algorithm", "")),
            html.escape(r.params.get("model", "")), html.escape(shown),
            *(f"{r.metrics[k]:.2f}" if k in r.metrics else "-" for k in SUMMARY), f"<code>{html.escape(r.run_id)}</code>",
        ]

    rows = sorted(runs, key=lambda r: (r.params.get("task", ""), r.params.get("algorithm", "")))
    return "<p>Each row is one finished cell.</p>" + runs_details(rows, headers, cells).replace("<details>", "<details open>", 1)
