"""Sequence logos (logomaker, information content in bits) and the one-page HTML report."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rnatracker_cli.io.meme import LETTERS

_COLORS = {"A": "#109648", "C": "#255C99", "G": "#F7B32B", "U": "#D62839"}


def information(pwm: np.ndarray) -> np.ndarray:
    """Letter heights in bits, float64 (width, 4): p × (2 − entropy) per column."""
    p = np.clip(np.asarray(pwm, dtype=np.float64), 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.nansum(np.where(p > 0, p * np.log2(p), 0.0), axis=1)
    return p * (2.0 - entropy)[:, None]


def logo_png(pwm: np.ndarray, title: str = "", dpi: int = 100) -> bytes:
    """PNG bytes of an information-content logo of ``pwm`` (width, 4) over A C G U."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import logomaker
    import matplotlib.pyplot as plt
    import pandas as pd

    heights = pd.DataFrame(information(pwm), columns=list(LETTERS))
    fig, ax = plt.subplots(figsize=(0.3 * len(heights) + 0.6, 1.3))
    try:
        logomaker.Logo(heights, ax=ax, color_scheme=_COLORS, font_name="DejaVu Sans")
        ax.set_ylim(0, 2)
        ax.set_yticks([0, 1, 2])
        ax.set_ylabel("bits", fontsize=7)
        ax.set_xticks([])
        ax.tick_params(labelsize=6)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        if title:
            ax.set_title(title, fontsize=7)
        fig.tight_layout(pad=0.2)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi)
    finally:
        plt.close(fig)
    return buf.getvalue()


@dataclass
class ReportRow:
    """One filter in the report (already ranked)."""

    filter_id: str
    sites: int
    kl_mean: float
    deltas: Sequence[float]
    logo: bytes | None
    match: str  # "ID NAME" of the best database motif, or "" when none passes
    match_q: float
    match_logo: bytes | None


def _img(png: bytes | None) -> str:
    if not png:
        return ""
    return f'<img alt="logo" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def render_html(rows: Sequence[ReportRow], fractions: Sequence[str], header: dict[str, str], notes: Sequence[str],
                enrichment_rows: Sequence[tuple] = ()) -> str:
    """A self-contained HTML page (logos embedded as base64 PNG)."""
    esc = html.escape
    out = ["<!DOCTYPE html><html><head><meta charset='utf-8'><title>rnatracker motifs</title><style>",
           "body{font-family:sans-serif;font-size:13px;margin:1.5em}table{border-collapse:collapse}"
           "td,th{border-bottom:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:middle}"
           "th{background:#f3f3f3}.num{text-align:right;font-variant-numeric:tabular-nums}"
           "img{height:64px}.note{color:#555}</style></head><body>",
           "<h1>rnatracker motifs</h1><table>"]
    out += [f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in header.items()]
    out.append("</table>")
    out += [f"<p class='note'>{esc(n)}</p>" for n in notes]
    out.append("<h2>Filters by influence</h2><p class='note'>Influence: mean KL(original ‖ filter zeroed) over the "
               "transcripts; per fraction, the mean change in predicted share when the filter is zeroed "
               "(negative: the filter pushes transcripts towards that fraction). Best match: Tomtom, forward "
               "strand, smallest p-value, shown when its q-value passes the table's cut-off.</p>")
    out.append("<table><tr><th>rank</th><th>filter</th><th>logo</th><th class='num'>sites</th>"
               "<th class='num'>KL</th>" + "".join(f"<th class='num'>Δ {esc(f)}</th>" for f in fractions)
               + "<th>best match</th><th class='num'>q-value</th><th>match logo</th></tr>")
    for rank, r in enumerate(rows, 1):
        deltas = "".join(f"<td class='num'>{d:+.4f}</td>" for d in r.deltas)
        q = f"{r.match_q:.3g}" if r.match else ""
        out.append(f"<tr><td class='num'>{rank}</td><td>{esc(r.filter_id)}</td><td>{_img(r.logo)}</td>"
                   f"<td class='num'>{r.sites}</td><td class='num'>{r.kl_mean:.4g}</td>{deltas}"
                   f"<td>{esc(r.match) or '—'}</td><td class='num'>{q}</td><td>{_img(r.match_logo)}</td></tr>")
    out.append("</table>")
    if enrichment_rows:
        out.append("<h2>Known motifs enriched in zipcodes</h2><table><tr><th>motif</th><th>fraction</th>"
                   "<th>direction</th><th class='num'>zipcodes with site</th><th class='num'>background with site</th>"
                   "<th class='num'>odds ratio</th><th class='num'>p</th><th class='num'>q</th></tr>")
        for motif, fraction, direction, z, b, odds, p, q in enrichment_rows:
            out.append(f"<tr><td>{esc(motif)}</td><td>{esc(fraction)}</td><td>{esc(direction)}</td>"
                       f"<td class='num'>{esc(z)}</td><td class='num'>{esc(b)}</td><td class='num'>{odds:.3g}</td>"
                       f"<td class='num'>{p:.3g}</td><td class='num'>{q:.3g}</td></tr>")
        out.append("</table>")
    out.append("</body></html>\n")
    return "".join(out)
