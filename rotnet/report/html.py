"""The report as one self-contained HTML page (its images stay beside it, linked relatively)."""

from __future__ import annotations

STYLE = (
    "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;line-height:1.4}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
    "td:first-child,th:first-child{text-align:left}img{max-width:100%}"
)


def render_html(markdown_text: str) -> str:
    import markdown

    body = markdown.markdown(markdown_text, extensions=["tables"])
    return (
        f"<!doctype html>\n<html><head><meta charset='utf-8'><title>RotNet study report</title>"
        f"<style>{STYLE}</style></head><body>\n{body}\n</body></html>\n"
    )
