"""srunear.display: nested entities as stacked underlines, escaped text, a page with a legend, a real browser."""

from __future__ import annotations

import shutil
import struct
import subprocess
import tempfile
import zlib
from html.parser import HTMLParser

import pytest

from srunear.display import assign_levels, render_html, render_page, show, type_colours

TEXT = "In T cells, the IL-2 promoter <script>alert('x')</script> binds & the human IL-2 receptor alpha gene."


def entity(text: str, mention: str, kind: str, score: float, occurrence: int = 0) -> dict:
    start = -1
    for _ in range(occurrence + 1):
        start = text.index(mention, start + 1)
    return {"entity_group": kind, "start": start, "end": start + len(mention), "score": score, "word": mention}


ENTITIES = [
    entity(TEXT, "T cells", "cell_type", 0.91),
    entity(TEXT, "IL-2 promoter", "DNA", 0.8),
    entity(TEXT, "IL-2", "protein", 0.95),
    entity(TEXT, "human IL-2 receptor alpha gene", "DNA", 0.7),
    entity(TEXT, "human IL-2 receptor alpha", "protein", 0.75),
    entity(TEXT, "IL-2", "protein", 0.6, occurrence=1),
]


class Elements(HTMLParser):
    """Start tags with their attributes, and the text outside tags, in order."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self._in_label = 0

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if attributes.get("class") == "srunear-label":
            self._in_label += 1

    def handle_endtag(self, tag):
        if tag == "span" and self._in_label:
            self._in_label -= 1

    def handle_data(self, data):
        if not self._in_label:
            self.text.append(data)


def parse(markup: str) -> Elements:
    parser = Elements()
    parser.feed(markup)
    return parser


def test_levels_put_inner_entities_nearest_the_words():
    assert assign_levels(ENTITIES) == [0, 1, 0, 2, 1, 0]
    disjoint = [{"start": 0, "end": 2}, {"start": 3, "end": 5}, {"start": 0, "end": 5}]
    assert assign_levels(disjoint) == [0, 0, 1]
    crossing = [{"start": 0, "end": 4}, {"start": 2, "end": 6}]
    assert assign_levels(crossing) == [0, 1]


def test_every_entity_once_with_its_level_colour_and_score():
    parsed = parse(render_html(TEXT, ENTITIES))
    labels = [a for tag, a in parsed.tags if a.get("class") == "srunear-label"]
    assert sorted(int(a["data-entity"]) for a in labels) == list(range(len(ENTITIES)))
    levels = assign_levels(ENTITIES)
    colours = type_colours(e["entity_group"] for e in ENTITIES)
    for label in labels:
        index = int(label["data-entity"])
        assert int(label["data-level"]) == levels[index]
        assert f"color:{colours[ENTITIES[index]['entity_group']]}" in label["style"]
        assert label["title"] == f"{ENTITIES[index]['entity_group']} (score {ENTITIES[index]['score']:.3f})"
    bars = [a for tag, a in parsed.tags if a.get("class") == "srunear-bar"]
    # each entity is underlined on every piece it covers, always at its own level
    assert {int(a["data-entity"]) for a in bars} == set(range(len(ENTITIES)))
    assert all(int(a["data-level"]) == levels[int(a["data-entity"])] for a in bars)
    per_entity = {i: sum(int(a["data-entity"]) == i for a in bars) for i in range(len(ENTITIES))}
    assert per_entity[3] == 4  # "human " | "IL-2" | " receptor alpha" | " gene": cut by the two entities inside
    assert len(set(colours.values())) == 3


def test_text_is_escaped_and_comes_back_unchanged():
    markup = render_html(TEXT, ENTITIES)
    parsed = parse(markup)
    assert "<script>" not in markup and "&lt;script&gt;" in markup
    assert not any(tag == "script" for tag, _ in parsed.tags)
    assert "".join(parsed.text) == TEXT
    hostile = [{"entity_group": '"><img src=x onerror=alert(1)>', "start": 3, "end": 10, "score": 0.5}]
    assert "<img" not in render_html(TEXT, hostile)


def test_notebook_display_and_page_legend():
    assert show(TEXT, ENTITIES)._repr_html_() == render_html(TEXT, ENTITIES)
    page = render_page([("doc <1>", TEXT, ENTITIES), ("doc2", "Aspirin helps.", [entity("Aspirin helps.", "Aspirin", "Chemical", 0.9)])])
    assert page.startswith("<!DOCTYPE html>") and "doc &lt;1&gt;" in page
    parsed = parse(page)
    assert sum(a.get("class") == "srunear-document" for _, a in parsed.tags) == 2
    legend = page[page.index('class="srunear-legend"'):page.index("</ul>")]
    counts = {name: int(legend.split(f"{name} <span class=\"srunear-count\">")[1].split("<")[0])
              for name in ("Chemical", "DNA", "cell_type", "protein")}
    assert counts == {"Chemical": 1, "DNA": 2, "cell_type": 1, "protein": 3}


def png_pixels(path) -> tuple[tuple[int, int], set[tuple[int, int, int]]]:
    """(width, height) and the set of RGB colours of an 8-bit RGB/RGBA PNG, decoded with zlib alone."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks = 8, {}
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        chunks[kind] = chunks.get(kind, b"") + data[position + 8:position + 8 + length]
        position += 12 + length
    width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert depth == 8 and colour_type in (2, 6) and interlace == 0
    channels = 3 if colour_type == 2 else 4
    raw, stride = zlib.decompress(chunks[b"IDAT"]), width * channels
    previous, colours = bytearray(stride), set()
    for row in range(height):
        kind, line = raw[row * (stride + 1)], bytearray(raw[row * (stride + 1) + 1:(row + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up, corner = previous[i], previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif kind == 4:
                guess = left + up - corner
                near = min((abs(guess - left), 0, left), (abs(guess - up), 1, up), (abs(guess - corner), 2, corner))
                line[i] = (line[i] + near[2]) & 255
        colours.update(tuple(line[i:i + 3]) for i in range(0, stride, channels))
        previous = line
    return (width, height), colours


SCREENSHOT_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--window-size=1200,800"]


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not on PATH (Debian: apt-get install chromium)")
def test_headless_chromium_draws_the_underlines(tmp_path):
    page = tmp_path / "page.html"
    page.write_text(render_page([("nested", TEXT, ENTITIES)]), encoding="utf-8")
    png = tmp_path / "out.png"
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(["chromium", *SCREENSHOT_FLAGS, f"--user-data-dir={profile}", f"--screenshot={png}", page.as_uri()],
                       capture_output=True, timeout=120, check=True)
    size, pixels = png_pixels(png)
    assert size == (1200, 800)
    for colour in type_colours(e["entity_group"] for e in ENTITIES).values():
        rgb = tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))
        assert rgb in pixels, f"no {colour} underline drawn"
