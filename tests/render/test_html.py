"""The HTML page: its matrix cells match the reports, it is self-contained, and Chromium draws it.

The screenshot test needs Debian's ``chromium`` (``.ci/run`` installs it); it
fails without it rather than skip, so that CI always looks at the page.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import tempfile
import zlib
from html.parser import HTMLParser

import numpy as np
import pytest

from detaudit.compare.bits import Verdict
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


@pytest.mark.slow  # an audit of its own in a process of its own
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


def _chromium(tmp_path, page: str, *args: str, width: int = WIDTH, height: int = HEIGHT) -> str:
    """Run headless Chromium on ``page`` (written to a file) with ``args``; its stdout."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "chromium is missing: `apt-get install chromium` (.ci/run installs it)"
    html_file = tmp_path / "page.html"
    html_file.write_text(page, encoding="utf-8")
    profile = tempfile.mkdtemp(dir=tmp_path, prefix="profile-")
    done = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--force-color-profile=srgb",  # exact CSS colours in the PNG
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            *args,
            html_file.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.stdout


def _screenshot(tmp_path, page: str, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    png = tmp_path / "page.png"
    _chromium(tmp_path, page, f"--screenshot={png}", width=width, height=height)
    assert png.is_file(), "chromium wrote no screenshot"
    image = _decode_png(png.read_bytes())
    assert image.shape == (height, width, 3)
    colours = np.unique(image.reshape(-1, 3), axis=0)
    assert len(colours) > 200, "the screenshot is (nearly) blank"
    return image


@pytest.mark.slow  # headless Chromium (and an audit)
def test_chromium_renders_the_page(page, tmp_path):
    image = _screenshot(tmp_path, page, height=1000)
    # The matrix is drawn in colour: each status on screen fills cells with its own tint.
    for status in (Status.RAISES, Status.CONVERTS, Status.OK, Status.CRASHED):
        assert _pixels_of(image, PALETTE[status][0]) > 2000, status


# ------------------------------------------------ the first screen: what raises and what drifted

#: A real CPU audit (tests/data/reports/README.md): 106 entries, 5 raise, 12 skipped.
CPU_AUDIT = REPORTS / "cpu-torch2.13.0.json"
SCREEN = (1400, 900)

#: Appended to a copy of the page (the page itself has no script): after layout, each finding
#: and the matrix get their box in the viewport, which --dump-dom then prints.
_MEASURE = """<script>
for (const el of document.querySelectorAll("[data-finding], #matrix")) {
  const r = el.getBoundingClientRect();
  el.setAttribute("data-box", [r.left, r.top, r.right, r.bottom].map(Math.round).join(" "));
}
document.body.setAttribute("data-width", String(innerWidth));
</script>"""


class _Boxes(HTMLParser):
    """The measured boxes and the text of each finding, from Chromium's dumped DOM."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.boxes: dict[str, tuple[int, ...]] = {}
        self.text: dict[str, list[str]] = {}
        self.width = 0
        self._open: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "body":
            self.width = int(a.get("data-width", "0"))
        key = a.get("data-finding") or ("matrix" if a.get("id") == "matrix" else None)
        if key:
            self.boxes[key] = tuple(int(v) for v in a["data-box"].split())
            self.text[key] = []
        if tag not in ("br", "meta", "img", "input", "hr"):
            self._open.append(key)

    def handle_endtag(self, tag: str) -> None:
        if self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for key in filter(None, self._open):
            self.text[key].append(data)


def _first_screen(tmp_path, page: str) -> _Boxes:
    width, height = SCREEN
    dom = _chromium(tmp_path, page.replace("</body>", _MEASURE + "</body>"), "--dump-dom",
                    width=width, height=height)  # fmt: skip
    boxes = _Boxes()
    boxes.feed(dom)
    assert boxes.width == width, "the page was not laid out at the screenshot's width"
    return boxes


@pytest.mark.slow  # headless Chromium (and an audit)
def test_the_first_screen_of_a_cpu_audit_shows_its_raises_and_drift(tmp_path):
    """At 1400x900 the raises and the drift are on screen, before the matrix (issue 23)."""
    report = load_report(CPU_AUDIT)
    raising = [r for r in report.results if r.status is Status.RAISES]
    assert len(raising) == 5
    page = RENDERERS["report"]["html"].render(report)
    boxes = _first_screen(tmp_path, page)
    width, height = SCREEN
    for key in ("raises", "drift", "not-observed"):
        left, top, right, bottom = boxes.boxes[key]
        assert 0 <= left < right <= width and 0 <= top < bottom <= height, (key, boxes.boxes[key])
    assert boxes.boxes["matrix"][1] >= boxes.boxes["raises"][3]  # the matrix comes after
    raises_text = " ".join("".join(boxes.text["raises"]).split())
    assert raises_text.startswith("5 raises")
    for r in raising:  # each one named, with its kernel
        assert f"{r.id} {r.kernel}" in raises_text, r.id
    drift_text = " ".join("".join(boxes.text["drift"]).split())
    assert drift_text.startswith("0 drift") and "matches the docs" in drift_text
    not_observed = " ".join("".join(boxes.text["not-observed"]).split())
    assert not_observed.startswith("12 not observed") and "12 skipped" in not_observed
    # And the screenshot of that screen is drawn: the raises finding's edge is in it.
    image = _screenshot(tmp_path, page, *SCREEN)
    assert _pixels_of(image, PALETTE[Status.RAISES][2]) > 500


def test_a_table_whose_columns_were_never_compared_says_not_compared(tmp_path):
    """No "0 of N bit-identical" in alarm colours when nothing could be compared."""
    paths = [CPU_AUDIT, REPORTS / "fixture-gpu.json"]
    table = build_table(load_reports(paths), [str(p) for p in paths])
    assert table.has_bits() and table.bit_counts()[Verdict.NOT_COMPARED] == len(table.rows)
    page = render_table(table)
    (card,) = re.findall(r'<div class="card bits"[^>]*>(.*?)</div>', page)
    text = re.sub(r"<[^>]+>", " ", card)
    assert "not compared: no two columns of one device type had comparable bits" in text
    assert not re.search(r"\b0 of \d+", text)
    assert "card flag" not in page  # the orange cards of drift are gone from the counts


def test_every_in_page_link_lands(table, page):
    """Each finding's entry and "more below" link names an id on the page."""
    cpu = RENDERERS["report"]["html"].render(load_report(CPU_AUDIT))
    for text in (page, cpu):
        ids = set(re.findall(r' id="([^"]+)"', text))
        links = set(re.findall(r' href="#([^"]+)"', text))
        assert links and links <= ids, links - ids


def test_html_is_a_registered_audit_format():
    assert RENDERERS["report"]["html"].extension == ".html"
    report = load_report(REPORTS / "fixture-gpu.json")
    text = RENDERERS["report"]["html"].render(report)
    assert text.startswith("<!DOCTYPE html>") and text.endswith("</html>\n")
    assert len(_parse(text).cells) == len(report.results)
