"""The quickstart's closing screen: the summary table and where to look next."""

from __future__ import annotations

from typing import Any


def _fmt(v: float | None, digits: int = 3) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def render_summary(summary: dict[str, Any], con: Any) -> None:
    from rich.table import Table

    table = Table(title=f"medzoo quickstart: {summary['wall_s']:.0f} s (test split, 95% bootstrap CI)")
    columns = ("dataset", "selected", "metric", "value [95% CI]", "chance", "above", "board", "GMACs")
    for col in (*columns, "CAM"):
        table.add_column(col, no_wrap=True)
    for r in summary["rows"]:
        ci = f" [{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]" if r.get("ci_low") is not None else ""
        table.add_row(
            r["dataset"],
            r["entry"].split("/", 1)[-1],
            r["primary_metric"],
            f"{_fmt(r['value'])}{ci}",
            _fmt(r.get("chance"), 2),
            "yes" if r.get("above_chance") else "no",
            str(r.get("board_rows", r.get("entries", 1))),
            _fmt(r.get("gmacs"), 4),
            _fmt(r.get("pointing_game"), 2),
        )
    con.print(table)
    for r in summary["rows"]:
        x = r.get("cross_dataset")
        if x:
            ci = f" [{_fmt(x['ci_low'])}, {_fmt(x['ci_high'])}]" if x.get("ci_low") is not None else ""
            con.print(
                f"{r['dataset']} -> {x['dataset']}: {r['primary_metric']} {_fmt(x['value'])}{ci} on "
                f"{x['n']} test images ({x['removed_duplicates']} duplicates of the training set removed)"
            )
    con.print("Data are phantoms: these numbers test the pipeline, not medicine.")
    zoo, site = summary["zoo"], summary["site"]
    lines = [
        f"zoo:  {zoo}",
        f"site: {site}/index.html",
        "Next:",
        f"  medzoo leaderboard serve --zoo {zoo}",
        f"  medzoo zoo list --zoo {zoo}",
    ]
    if summary["rows"]:
        e = summary["rows"][0]["entry"]
        lines.append(f"  medzoo predict {e} IMAGE.png --cam cam.png --zoo {zoo}")
    for line in lines:
        con.print(line, soft_wrap=True)
