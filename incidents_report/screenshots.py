"""Pictures of the report for the documentation: its first two printed pages (the PDF that
headless Chromium prints, rasterised by poppler's pdftoppm) and its map (the map's SVG as
headless Chromium shows it), as small palette PNGs.

`incidents report --quarter 2024Q1 --screenshots docs/img` writes them; `make
report-screenshots` does that on the demo's warehouse.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from incidents_report.charts import charts
from incidents_report.data import QuarterlyReport
from incidents_report.exceptions import RenderError
from incidents_report.pdf import chromium_args, find_chromium, write_pdf

PAGES = ("report-page1.png", "report-page2.png")
MAP = "report-map.png"
PAGE_DPI = 100  # an A4 page 827 px wide: legible, and well under 400 KB as a palette PNG
MAP_SCALE = 1.5  # device pixels per CSS pixel for the map


def write_screenshots(
    report: QuarterlyReport, out_dir: Path, timeout_s: float = 120.0
) -> list[Path]:
    """Write the first two pages and the map as PNGs into `out_dir`; return their paths."""
    chromium = find_chromium()
    pdftoppm = shutil.which("pdftoppm")
    if chromium is None or pdftoppm is None:
        missing = "chromium" if chromium is None else "poppler-utils (pdftoppm)"
        raise RenderError(
            f"screenshots need Chromium and pdftoppm; {missing} is not installed:"
            " apt-get install chromium poppler-utils"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="incidents-shots-") as tmp_dir:
        tmp = Path(tmp_dir)
        pdf = write_pdf(report, tmp / "report.pdf", timeout_s=timeout_s)
        _run(
            [pdftoppm, "-png", "-r", str(PAGE_DPI), "-f", "1", "-l", "2", str(pdf), str(tmp / "p")],
            timeout_s,
            "pdftoppm",
        )
        pages = sorted(tmp.glob("p-*.png"))
        if len(pages) < 2:
            raise RenderError(f"the PDF has {len(pages)} page(s); two were expected")
        for page, name in zip(pages, PAGES, strict=False):
            written.append(_small_png(page, out_dir / name))
        chart = next((c for c in charts(report) if c.name == "district-map"), None)
        if chart is None:
            raise RenderError("the report has no map (no district could be placed)")
        svg = tmp / "map.svg"
        svg.write_text(chart.svg, encoding="utf-8")
        width, height = _svg_px(chart.svg)
        shot = tmp / "map.png"
        _run(
            [
                *chromium_args(chromium, tmp / "profile"),
                "--hide-scrollbars",
                f"--force-device-scale-factor={MAP_SCALE}",
                f"--window-size={width},{height}",
                f"--screenshot={shot}",
                svg.as_uri(),
            ],
            timeout_s,
            "Chromium",
        )
        if not shot.exists():
            raise RenderError("Chromium did not write the map's screenshot")
        written.append(_small_png(shot, out_dir / MAP))
    return written


def _run(args: list[str], timeout_s: float, what: str) -> None:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as e:
        raise RenderError(f"{what} did not finish within {timeout_s:.0f} s") from e
    if done.returncode != 0 and what != "Chromium":  # Chromium's exit code says little
        lines = [x for x in done.stderr.splitlines() if x.strip()]
        raise RenderError(f"{what} failed: {lines[-1] if lines else done.returncode}")


def _svg_px(svg: str) -> tuple[int, int]:
    """The SVG's size in CSS pixels (matplotlib writes it in pt), plus a margin."""
    import re  # lazy: one regex, only for screenshots

    m = re.search(r'width="([\d.]+)pt" height="([\d.]+)pt"', svg)
    if m is None:
        return 800, 700
    return int(float(m.group(1)) * 4 / 3) + 16, int(float(m.group(2)) * 4 / 3) + 16


def _small_png(source: Path, target: Path) -> Path:
    """Re-save as a 256-colour PNG: screenshots of flat colours lose nothing visible."""
    from PIL import Image  # lazy: Pillow (matplotlib's dependency) only for screenshots

    with Image.open(source) as image:
        image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(
            target, optimize=True
        )
    return target
