"""The HTML page: its matrix cells match the reports, it is self-contained, and Chromium draws it.

The screenshot test needs Debian's ``chromium`` (``.ci/run`` installs it); it
fails without it rather than skip, so that CI always looks at the page.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser

import numpy as np
import pytest

from detaudit.compare.table import build_table
from detaudit.model.report import Status
from detaudit.model.reportfile import load_report, load_reports
from detaudit.render import RENDERERS
from detaudit.render.html import PALETTE, render_table

from ..conftest import NEW_GPU, OLD_GPU, REPORTS, run_cli

WIDTH, HEIGHT = 1400, 1000


class _Page(HTMLParser):
    """Collects the matrix cells, the tags and every URL-bearing attribute of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.cells: dict[tuple[str, str], dict[str, str]] = {}
        self.tags: set[str] = set()
        self.urls: list[str] = []
        self.footer_rows: list[list[str]] = []
        self._in_tfoot = False
        self._text: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        a = {k: v or "" for k, v in attrs}
        self.urls += [a[k] for k in ("src", "href") if k in a]
        if tag == "td" and "data-status" in a:
            self.cells[(a["data-id"], a["data-column"])] = a
        if tag == "tfoot":
            self._in_tfoot = True
        elif tag == "tr" and self._in_tfoot:
            self.footer_rows.append([])
        elif tag in ("th", "td") and self._in_tfoot:
            self._text = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "tfoot":
            self._in_tfoot = False
        elif tag in ("th", "td") and self._text is not None:
            self.footer_rows[-1].append("".join(self._text).strip())
            self._text = None

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    page.close()
    return page


@pytest.fixture(scope="module")
def table(cpu_report_file):
    paths = [OLD_GPU, NEW_GPU, REPORTS / "fixture-gpu.json", cpu_report_file]
    return build_table(load_reports(paths), [str(p) for p in paths])


@pytest.fixture(scope="module")
def page(table) -> str:
    return render_table(table)


def test_every_cell_shows_its_reports_status(table, page):
    parsed = _parse(page)
    expected = {
        (row.id, column.label): cell
        for row, cells in zip(table.rows, table.cells)
        for column, cell in zip(table.columns, cells)
        if cell is not None
    }
    assert set(parsed.cells) == set(expected)
    for key, result in expected.items():
        cell = parsed.cells[key]
        assert cell["data-status"] == result.status.value
        assert ("d" in cell["class"].split()) == bool(result.drift), key
        title = cell["title"]
        assert result.status.value in title
        if result.kernel:
            assert f"kernel: {result.kernel}" in title
        if result.message:
            assert result.message in title  # the whole message, unescaped by the parser


def test_kernel_message_and_drift_on_hover(page):
    parsed = _parse(page)
    newly = parsed.cells[
        (
            "scatter-reduce-sum",
            "torch 2.11.0+cu130 · cuda · NVIDIA H100 80GB HBM3 (sm_90) · h100-torch2.11.json",
        )
    ]
    assert newly["data-status"] == "raises"
    assert "kernel: scatter_reduce_two_cuda" in newly["title"]
    assert "does not have a deterministic implementation" in newly["title"]
    assert "DRIFT: observed raises, the docs claim converts" in newly["title"]


def test_counts_per_status_per_column(table, page):
    footer = {row[0]: row[1:] for row in _parse(page).footer_rows}
    for status in Status:
        counts = [table.column_counts(i)[status] for i in range(len(table.columns))]
        if any(counts):
            assert footer[status.value] == [str(n) for n in counts]
        else:
            assert status.value not in footer


def test_page_is_self_contained(page):
    parsed = _parse(page)
    assert not parsed.tags & {"script", "link", "img", "iframe", "object", "embed"}
    assert all(url.startswith("#") for url in parsed.urls), parsed.urls  # in-page links only
    assert "@import" not in page and "url(" not in page  # the CSS fetches nothing


def test_environment_and_legend_are_on_the_page(page):
    for text in ("580.65.06", "570.133.20", "NVIDIA H100 80GB HBM3", "91300", "Environments"):
        assert text in page
    for status in ("raises", "converts", "crashed"):
        assert f'class="card st-{status}"' in page
    assert "drift: the cell is outlined" in page


def test_audit_writes_a_single_report_page(tmp_path):
    result = run_cli(
        "audit", "--device", "cpu", "--only", "put-accumulate-false", "--only", "index-copy",
        "--repeat", "1", "--format", "html", "--out", str(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (path,) = tmp_path.glob("detaudit-torch*-cpu.html")
    parsed = _parse(path.read_text())
    statuses = {key[0]: cell["data-status"] for key, cell in parsed.cells.items()}
    assert statuses == {"put-accumulate-false": "raises", "index-copy": "converts"}
    put = next(c for k, c in parsed.cells.items() if k[0] == "put-accumulate-false")
    assert "kernel: put_" in put["title"]


# ------------------------------------------------------------------ the page in a real browser


def _decode_png(data: bytes) -> np.ndarray:
    """The pixels of an 8-bit RGB/RGBA non-interlaced PNG (what Chromium writes), as HxWxC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, chunks, header = 8, [], None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            chunks.append(body)
    width, height, depth, color, _, _, interlace = header
    assert depth == 8 and color in (2, 6) and interlace == 0, header
    bpp = 3 if color == 2 else 4
    stride = width * bpp
    rows = np.frombuffer(zlib.decompress(b"".join(chunks)), np.uint8).reshape(height, stride + 1)
    out = np.zeros((height, stride), np.int32)
    prev = np.zeros(stride, np.int32)
    for y in range(height):
        kind, line = rows[y, 0], rows[y, 1:].astype(np.int32)
        if kind == 0:  # None
            cur = line
        elif kind == 1:  # Sub: a running sum per channel
            cur = np.cumsum(line.reshape(width, bpp), axis=0).reshape(-1) & 255
        elif kind == 2:  # Up
            cur = (line + prev) & 255
        else:  # Average (3) or Paeth (4): each byte needs the one to its left
            raw, up, cur_list = line.tolist(), prev.tolist(), [0] * stride
            for i in range(stride):
                a = cur_list[i - bpp] if i >= bpp else 0
                b, c = up[i], (up[i - bpp] if i >= bpp else 0)
                if kind == 3:
                    cur_list[i] = (raw[i] + ((a + b) >> 1)) & 255
                    continue
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                cur_list[i] = (raw[i] + pred) & 255
            cur = np.array(cur_list, np.int32)
        out[y], prev = cur, cur
    return out.astype(np.uint8).reshape(height, width, bpp)[:, :, :3]


def _pixels_of(image: np.ndarray, hex_colour: str) -> int:
    rgb = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)], np.uint8)
    return int((image == rgb).all(axis=2).sum())


def test_chromium_renders_the_page(page, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "chromium is missing: `apt-get install chromium` (.ci/run installs it)"
    html_file = tmp_path / "table.html"
    html_file.write_text(page)
    png = tmp_path / "table.png"
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--force-color-profile=srgb",  # exact CSS colours in the PNG
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={png}",
            f"--window-size={WIDTH},{HEIGHT}",
            html_file.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert png.is_file(), "chromium wrote no screenshot"
    image = _decode_png(png.read_bytes())
    assert image.shape == (HEIGHT, WIDTH, 3)
    colours = np.unique(image.reshape(-1, 3), axis=0)
    assert len(colours) > 200, "the screenshot is (nearly) blank"
    # The matrix is drawn in colour: each status on screen fills cells with its own tint.
    for status in (Status.RAISES, Status.CONVERTS, Status.OK, Status.CRASHED):
        assert _pixels_of(image, PALETTE[status][0]) > 2000, status


def test_html_is_a_registered_audit_format():
    assert RENDERERS["report"]["html"].extension == ".html"
    report = load_report(REPORTS / "fixture-gpu.json")
    text = RENDERERS["report"]["html"].render(report)
    assert text.startswith("<!DOCTYPE html>") and text.endswith("</html>\n")
    assert len(_parse(text).cells) == len(report.results)
