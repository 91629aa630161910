"""The quickstart's closing screen: the summary table and where to look next."""

from __future__ import annotations

from typing import Any


def _fmt(v: float | None, digits: int = 3) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def render_summary(summary: dict[str, Any], con: Any) -> None:
    from rich.table import Table

    table = Table(title=f"medzoo quickstart: {summary['wall_s']:.0f} s")
    for col in ("dataset", "best entry", "primary metric (95% CI)", "params", "GMACs", "Grad-CAM pointing"):
        table.add_column(col)
    for r in summary["rows"]:
        ci = f" [{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]" if r.get("ci_low") is not None else ""
        params = "-" if r.get("params") is None else f"{r['params'] / 1e6:.2f}M"
        table.add_row(r["dataset"], r["entry"], f"{r['primary_metric']} {_fmt(r['value'])}{ci}", params,
                      _fmt(r.get("gmacs"), 4), _fmt(r.get("pointing_game"), 2))
    con.print(table)
    con.print("Data are phantoms: these numbers test the pipeline, not medicine.")
    zoo, site = summary["zoo"], summary["site"]
    con.print(f"zoo:  {zoo}\nsite: {site}/index.html")
    con.print("Next:")
    con.print(f"  medzoo leaderboard serve --zoo {zoo}")
    con.print(f"  medzoo zoo list --zoo {zoo}")
    if summary["rows"]:
        e = summary["rows"][0]["entry"]
        con.print(f"  medzoo predict {e} IMAGE.png --cam cam.png --zoo {zoo}")
