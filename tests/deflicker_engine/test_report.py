"""The QC report: measured from the files, one self-contained HTML page, checked in a real browser."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from deflicker_engine.errors import InputError, OutputError
from deflicker_engine.report import (IndexEntry, Series, check_report_path, measure, split_params, still_indices,
                                     svg_chart, write_index, write_report)
from tests.conftest import flicker, textured_scene

FRAMES = 16


def _folder(path: Path, frames, start: int = 1001) -> Path:
    path.mkdir()
    for i, frame in enumerate(frames):
        bgr = cv2.cvtColor(np.rint(np.clip(frame, 0, 1) * 255).astype(np.uint8), cv2.COLOR_RGB2BGR)
        cv2.imwrite(str(path / f"plate.{start + i:04d}.png"), bgr)
    return path


@pytest.fixture
def shot(tmp_path):
    """A flickering input and a 'deflickered' output (the clean clip) of the same shot."""
    clean = textured_scene(FRAMES, 48, 72)
    return _folder(tmp_path / "in", flicker(clean)), _folder(tmp_path / "out", clean)


PARAMS = {"preset": "old-film", "strength": 0.8, "atlas_steps": 40}
SECONDS = {"read": 0.2, "flow": 1.5, "atlas": 6.0, "render": 0.7}


def test_measure_sees_the_flicker_go(shot):
    m = measure(*shot)
    assert (m.count, m.width, m.height) == (FRAMES, 72, 48)
    assert m.luma_in.shape == (FRAMES,) and m.rgb_out.shape == (FRAMES, 3)
    assert m.jitter_out < 0.3 * m.jitter_in
    assert m.heat.shape == (48, 72) and m.heat.min() >= 0 and m.heat.max() > 0.02
    assert [s.index for s in m.stills] == still_indices(FRAMES) == [0, 5, 10, 15]
    assert m.stills[0].label == "plate.1001.png" and m.stills[0].before.dtype == np.uint8


def test_measure_means_are_the_frames_means(tmp_path):
    grey = [np.full((20, 30, 3), v, np.float32) for v in (0.2, 0.4, 0.6)]
    m = measure(_folder(tmp_path / "a", grey), _folder(tmp_path / "b", grey[::-1]))
    assert m.luma_in == pytest.approx([0.2, 0.4, 0.6], abs=2 / 255)
    assert m.rgb_out[:, 0] == pytest.approx([0.6, 0.4, 0.2], abs=2 / 255)
    assert float(m.heat.mean()) == pytest.approx((0.4 + 0 + 0.4) / 3, abs=2 / 255)


def test_measure_refuses_an_output_of_another_clip(shot, tmp_path):
    other = _folder(tmp_path / "short", textured_scene(FRAMES - 2, 48, 72))
    with pytest.raises(InputError, match="does not match"):
        measure(shot[0], other)


def test_still_indices_spread_over_the_clip():
    assert still_indices(1) == [0] and still_indices(3) == [0, 1, 2] and still_indices(0) == []
    assert still_indices(240) == [0, 80, 159, 239]


def test_parameters_show_the_preset_its_values_and_the_defaults():
    analysis, render, other = split_params({"preset": "processed", "strength": 0.5, "from_a_newer_server": 1})
    assert analysis["preset"] == "processed" and analysis["appearance"] == "hold"      # the preset's own value
    assert analysis["working_size"] == 448 and render == {"strength": 0.5}
    assert other == {"from_a_newer_server": 1}
    assert split_params({"preset": "processed", "appearance": "follow"})[0]["appearance"] == "follow"  # explicit wins


def test_chart_has_one_polyline_per_series_with_a_point_per_frame():
    svg = svg_chart([Series("input", np.arange(10.0), "#000", "input"),
                     Series("output", np.ones(10), "#111", "output", dashed=True)], "c", "t", "y")
    lines = re.findall(r'<polyline class="curve (\w+)"[^>]*points="([^"]+)"', svg)
    assert [kind for kind, _ in lines] == ["input", "output"]
    assert all(len(points.split()) == 10 for _, points in lines)


def test_report_is_one_self_contained_file(shot, tmp_path):
    target = tmp_path / "qc" / "shot.html"
    summary = write_report(target, *shot, PARAMS, SECONDS)
    text = target.read_text()
    assert summary.preset == "old-film" and summary.frames == FRAMES and summary.thumbnail.startswith("data:image/")
    assert summary.jitter_out < summary.jitter_in
    assert "<script" not in text and "<link" not in text and "@import" not in text and "url(" not in text
    sources = re.findall(r'\ssrc="([^"]*)"', text)
    assert len(sources) == 2 * 4 + 2 and all(s.startswith("data:image/") for s in sources)
    assert 'id="luma-curves"' in text and 'id="channel-curves"' in text and 'id="heatmap"' in text
    for stage in SECONDS:
        assert f"<td>{stage}</td>" in text
    assert os.stat(target).st_mode & 0o044 == 0o044          # readable by the people who review it


def test_report_path_must_be_html(tmp_path):
    with pytest.raises(OutputError, match=r"\.html"):
        check_report_path(tmp_path / "shot.pdf")
    (tmp_path / "dir.html").mkdir()
    with pytest.raises(OutputError, match="folder"):
        check_report_path(tmp_path / "dir.html")


def test_unwritable_report_is_an_output_error(shot, tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputError, match="cannot write the report"):
        write_report(tmp_path / "file" / "shot.html", *shot, PARAMS, SECONDS)


def test_index_links_each_report_relatively(shot, tmp_path):
    folder = tmp_path / "reports"
    summary = write_report(folder / "a" / "shot_a.html", *shot, PARAMS, SECONDS)
    index = write_index(folder / "index.html", [IndexEntry("shot_a", "done", summary),
                                                IndexEntry("shot_b", "failed", reason="cannot read <frame 3>")])
    text = index.read_text()
    assert 'href="a/shot_a.html"' in text and "cannot read &lt;frame 3&gt;" in text and "old-film" in text


# --- in a real browser --------------------------------------------------------------------------------

def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("headless Chromium is not installed (Debian: apt-get install -y chromium; .ci/run installs it)")


def _browser(*args: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                               "--disable-background-networking", "--disable-component-update", "--disable-sync",
                               "--no-first-run", f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=120)


# Added to a copy of the report only: the report itself has no scripts. Runs after every image has loaded.
PROBE = """<script>
window.addEventListener('load', function () {
  var images = Array.prototype.map.call(document.images, function (i) {
    return {id: i.id, cls: i.className, w: i.naturalWidth, h: i.naturalHeight, shown: i.getBoundingClientRect().width};
  });
  var curves = Array.prototype.map.call(document.querySelectorAll('svg polyline.curve'), function (p) {
    var box = p.getBBox();
    return {chart: p.ownerSVGElement.id, series: p.getAttribute('data-series'), points: p.points.numberOfItems,
            width: box.width, shown: p.getBoundingClientRect().width};
  });
  var probe = document.createElement('pre');
  probe.id = 'probe';
  var preset = document.getElementById('preset');
  probe.textContent = JSON.stringify({images: images, curves: curves, text: document.body.innerText,
                                      preset: preset ? preset.textContent : null});
  document.body.appendChild(probe);
});
</script>"""


def _rendered(page: Path) -> dict:
    probed = page.with_name("probed_" + page.name)
    probed.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    result = _browser("--virtual-time-budget=10000", "--dump-dom", probed.as_uri())
    match = re.search(r'<pre id="probe">(.*?)</pre>', result.stdout, re.S)
    assert match, f"the page did not render (exit {result.returncode}): {result.stderr[-2000:]}"
    import html

    return json.loads(html.unescape(match.group(1)))


def test_report_renders_in_headless_chromium(shot, tmp_path):
    page = tmp_path / "shot.html"
    write_report(page, *shot, PARAMS, SECONDS)
    seen = _rendered(page)
    images = seen["images"]
    assert len(images) == 10
    assert all(i["w"] > 0 and i["h"] > 0 and i["shown"] > 50 for i in images), images   # decoded and on screen
    assert sum(i["cls"] == "before" for i in images) == 4 and sum(i["cls"] == "after" for i in images) == 4
    assert {i["id"] for i in images} >= {"heatmap", "heat-scale"}
    curves = seen["curves"]
    assert {(c["chart"], c["series"]) for c in curves} == (
        {("luma-curves", "input"), ("luma-curves", "output")}
        | {("channel-curves", f"{c} {k}") for c in "RGB" for k in ("in", "out")})
    assert all(c["points"] == FRAMES and c["shown"] > 200 for c in curves), curves
    assert seen["preset"] == "old-film"
    for words in ("Before and after", "Mean luma per frame", "Where the correction was strongest", "atlas_steps",
                  "plate.1001.png", "Timings"):
        assert words in seen["text"]


def test_report_screenshot_is_a_picture_not_a_blank_page(shot, tmp_path):
    page = tmp_path / "shot.html"
    write_report(page, *shot, PARAMS, SECONDS)
    picture = tmp_path / "shot.png"
    result = _browser("--window-size=1280,1600", f"--screenshot={picture}", page.as_uri())
    assert picture.exists(), result.stderr[-2000:]
    image = cv2.imread(str(picture))
    assert image.shape[:2] == (1600, 1280)
    assert image.std() > 20 and len(np.unique(image.reshape(-1, 3), axis=0)) > 1000   # stills and charts drawn


def test_index_renders_with_its_thumbnails(shot, tmp_path):
    summary = write_report(tmp_path / "r" / "shot.html", *shot, PARAMS, SECONDS)
    index = write_index(tmp_path / "r" / "index.html", [IndexEntry("shot", "done", summary)])
    seen = _rendered(index)
    assert len(seen["images"]) == 1 and seen["images"][0]["w"] > 0
    assert "shot" in seen["text"] and "old-film" in seen["text"]
