"""The report as one HTML page (rotnet.report.html): tables rendered, images linked as written."""

from __future__ import annotations

from html.parser import HTMLParser

from rotnet.report.html import render_html


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.images: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "img":
            self.images.append(dict(attrs)["src"] or "")


def test_markdown_tables_and_images_become_a_whole_page():
    md = "# Study\n\n| a | b |\n| --- | --- |\n| 1 | 2 |\n\n![curves](report_files/cifar10_curves.png)\n"
    page = render_html(md)
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    parsed = _Tags()
    parsed.feed(page)
    assert parsed.tags.count("table") == 1 and parsed.tags.count("td") == 2 and "h1" in parsed.tags
    assert parsed.images == ["report_files/cifar10_curves.png"]  # relative: the page moves with its folder
    assert "<meta charset='utf-8'>" in page and "<style>" in page


def test_text_is_escaped_not_taken_as_markup():
    page = render_html("a < b & c\n")
    assert "a &lt; b &amp; c" in page
