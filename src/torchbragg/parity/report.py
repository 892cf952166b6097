"""Markdown rendering of trace and image comparisons (summary.md and stdout)."""
from __future__ import annotations

import re

from torchbragg.parity.compare_traces import (
    GroupComparison, Result, TraceComparison, scaling_row,
)
from torchbragg.parity.tracefmt import SCALING_CHAIN


def fmt(x) -> str:
    if x is None:
        return "—"
    if isinstance(x, float):
        return f"{x:.3e}"
    return str(x)


def _pixel_title(pix) -> str:
    return "unnamed pixel" if pix is None else f"pixel (slow {pix[0]}, fast {pix[1]})"


def _where(r: Result) -> str:
    text = f"`{r.name}` k={r.k}, block {r.block}"
    if r.block in ("A", "B"):
        text += f", sub-pixel index {r.k}"
        sub = (r.c or r.py).subpixel
        if sub:
            text += f" (marker t,subS,subF = {', '.join(map(str, sub))})"
    return text


def _values(e) -> str:
    return "—" if e is None else "`" + " ".join(e.values) + "`"


def _diffs(r: Result) -> str:
    if not r.abs_diff:
        return ""
    return (" abs diff [" + ", ".join(fmt(x) for x in r.abs_diff) + "], rel diff ["
            + ", ".join(fmt(x) for x in r.rel_diff) + "]")


def result_lines(r: Result) -> list[str]:
    lines = [f"- {_where(r)}: **{r.status}**" + (f" ({r.note})" if r.note else ""),
             f"  - C:  {_values(r.c)}", f"  - PY: {_values(r.py)}"]
    if r.abs_diff:
        lines.append(f"  - {_diffs(r).strip()}" + (f", rtol {r.rtol:g}" if r.rtol else ""))
    return lines


def group_markdown(gc: GroupComparison, title: str) -> list[str]:
    out = [f"### {title}", ""]
    first = gc.first_divergence
    if first is None:
        out += ["No divergence: every compared key agrees within tolerance.", ""]
    else:
        out += ["**First divergence:**", *result_lines(first)]
        last = gc.last_pass_before(first)
        out.append("  - last passing entry before it: "
                   + ("none" if last is None else f"`{last.name}` k={last.k} (block {last.block})"))
        if first.name.startswith("F_latt"):
            hkl = gc.find("hkl_frac", first.k)
            if hkl is not None:
                out.append("  - lattice factors are ill-conditioned; the matching hkl_frac:")
                out += ["  " + line for line in result_lines(hkl)]
        out.append("")
    failures = gc.failures
    if len(failures) > 1:
        out += [f"All failing entries ({len(failures)}):", ""]
        for r in failures:
            out += result_lines(r)
        out.append("")
    notes = [r for r in gc.results if r.status in ("note-missing", "note-extra", "warn")]
    if notes:
        out += ["Notes:", ""]
        out += [f"- `{r.name}` k={r.k} ({r.block}): {r.status.replace('note-', '')}"
                + (f" — {r.note}" if r.note else "") for r in notes[:60]]
        if len(notes) > 60:
            out.append(f"- … {len(notes) - 60} more")
        out.append("")
    counts = gc.counts()
    if counts:
        out += ["| block | " + " | ".join(_STATUSES) + " |",
                "|---|" + "---|" * len(_STATUSES)]
        for blk in sorted(counts):
            out.append(f"| {blk} | " + " | ".join(str(counts[blk].get(s, 0)) for s in _STATUSES)
                       + " |")
        out.append("")
    return out


_STATUSES = ("pass", "warn", "mismatch", "shape", "missing", "extra", "note-missing",
             "note-extra", "skipped")


def scaling_table(gc: GroupComparison) -> list[str]:
    out = ["| name | C | PY | abs diff | rel diff | status |", "|---|---|---|---|---|---|"]
    for name in SCALING_CHAIN:
        row = scaling_row(gc, name)
        out.append(f"| `{name}` | {row['c'] or '—'} | {row['py'] or '—'} | "
                   f"{fmt(row['abs_diff'])} | {fmt(row['rel_diff'])} | {row['status']} |")
    return out + [""]


def trace_markdown(tc: TraceComparison) -> list[str]:
    out = [f"Trace comparison: exit status {tc.exit_status()} "
           f"(dtype column {tc.tolerances.dtype})", ""]
    for note in tc.notes:
        out.append(f"- {note}")
    if tc.notes:
        out.append("")
    if tc.run.results:
        out += group_markdown(tc.run, "Run-level block")
    for gc in tc.pixels:
        out += group_markdown(gc, _pixel_title(gc.pixel))
        out += [f"Scaling chain, {_pixel_title(gc.pixel)}:", ""] + scaling_table(gc)
    return out


_IMAGE_ROWS = (
    ("byte_identical", "byte-identical"), ("pearson_r", "Pearson r"), ("rmse", "RMSE"),
    ("max_abs_diff", "max abs diff"), ("max_abs_diff_at", "max abs diff at (slow, fast)"),
    ("max_abs_diff_over_max_ref", "max abs diff / max ref"), ("relative_l2", "relative L2"),
    ("max_rel_diff", "max rel diff (ref != 0)"), ("sum_ref", "sum ref"),
    ("sum_test", "sum test"), ("sum_ratio", "sum ratio test/ref"),
    ("pixels_differing", "pixels differing"), ("max_ref", "max ref"), ("max_test", "max test"),
)


_FALLBACK_RE = re.compile(r"\binstead\b|fall(?:s|ing)?[ -]?back", re.IGNORECASE)


def fallback_of(*notes: str | None) -> str | None:
    """The clause of a note that says a fallback happened ("… instead", "fallback …")."""
    for note in notes:
        plain = re.sub(r"\s*\([^()]*\)", "", note or "")  # asides may hold sentences
        for clause in re.split(r";\s*|\.\s+", plain):
            if _FALLBACK_RE.search(clause):
                return clause.strip().rstrip(".")
    return None


def headline(verdict: str, *, preset: str | None, size, dtype: str, device: str, runtime: str,
             fallback: str | None = None, roi=None) -> str:
    """The summary's first line: what ran and the verdict, e.g.
    ``# PASS — preset supervisor, 2463×2527, float64 cpu, host``; size fast×slow."""
    what = f"preset {preset}" if preset else "custom command"
    dims = f"{size[0]}×{size[1]}" if size else "size unknown"
    line = f"# {verdict} — {what}, {dims}, {dtype} {device}, {runtime}"
    if roi:
        line += f", ROI fast {roi[0]}–{roi[1]} slow {roi[2]}–{roi[3]}"
    if fallback:
        line += f" — FALLBACK: {fallback}"
    return line


def preview_markdown(previews, labels=("ref", "test")) -> list[str]:
    """Embedded previews and their scales, or why there are none."""
    if previews is None:
        return []
    if not previews.names:
        return [f"Previews: **not written** — {previews.skipped}.", ""]
    names, sc = previews.names, previews.scale
    img, diff = sc["image"], sc["diff"]
    out = [f"![{labels[0]}]({names[0]}) ![{labels[1]}]({names[1]}) ![difference]({names[2]})",
           "", "Previews (each has its colour bar and end values below the image; the same "
           "numbers are in the PNG `tEXt` chunks):", "",
           f"- `{names[0]}`, `{names[1]}`: log scale shared by both images, black 0 … white "
           f"{img['max']:.6g} (`{img['formula']}`, knee {img['knee']:.6g}; the bar's middle is "
           f"{img['middle']:.6g})."]
    for name, lab, zero in zip(names[:2], labels, img["all_zero"]):
        if zero:
            out.append(f"- `{name}`: the {lab} image is **zero everywhere** (ALL ZERO).")
    if diff["all_zero"]:
        out.append(f"- `{names[2]}`: the difference {labels[1]} − {labels[0]} is **zero "
                   f"everywhere** (ALL ZERO written on the map).")
    else:
        out.append(f"- `{names[2]}`: {labels[1]} − {labels[0]}, linear, blue "
                   f"{diff['min']:.6g} … white 0 … red +{diff['max']:.6g} (red: {labels[1]} "
                   f"larger).")
    scale = f"max-pooled {sc['pool_factor']}×{sc['pool_factor']}" \
        if sc["pool_factor"] > 1 else "not pooled"
    out.append(f"- {scale}, enlarged ×{sc['zoom']}; traced pixels boxed in green and "
               f"numbered: {sc['markers']}.")
    return out + [""]


def image_markdown(metrics: dict, tolerance: float, passed: bool, labels=("ref", "test"),
                   previews=None) -> list[str]:
    out = [f"Image comparison ({labels[1]} vs {labels[0]}, {metrics['shape'][1]} fast x "
           f"{metrics['shape'][0]} slow): **{'PASS' if passed else 'FAIL'}** "
           f"(criterion: max abs diff / max ref <= {tolerance:g})", "",
           "| metric | value |", "|---|---|"]
    for key, label in _IMAGE_ROWS:
        if key in metrics:
            v = metrics[key]
            out.append(f"| {label} | {v if not isinstance(v, float) else f'{v:.9g}'} |")
    pk = metrics["peaks"]
    out.append(f"| peaks matched within 1 px | {pk['matched']}/{pk['found']} "
               f"(top {pk['requested']} of {labels[0]}) |")
    out.append("")
    if isinstance(previews, list):          # bare file names (older callers)
        if previews:
            out += [f"![{labels[0]}]({previews[0]}) ![{labels[1]}]({previews[1]}) "
                    f"![difference]({previews[2]})", "",
                    f"Previews: log scale shared by both images; difference {labels[1]} − "
                    f"{labels[0]} (red: {labels[1]} larger, blue: smaller).", ""]
    else:
        out += preview_markdown(previews, labels)
    return out
