"""HTML -> readable plain text for the text/plain part of an email (stdlib only).

Keeps what a reader needs: paragraphs and headings as blocks, list items as
"- " / "1. " lines, links as "text (url)", images as their alt text, table
rows as lines. Drops <head>, <style> and <script>.
"""
import re
from html.parser import HTMLParser

BLOCK_TAGS = {
    "p", "div", "section", "article", "header", "footer", "main", "aside", "nav",
    "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "table", "tr", "blockquote",
    "pre", "center", "dl", "dt", "dd", "figure", "figcaption", "address", "form",
}
SKIP_TAGS = {"head", "style", "script", "title", "template", "noscript"}
_SPACES = re.compile(r"[ \t\r\n\f\v\u00a0]+")


class _TextBuilder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0
        self.lists: list[list] = []  # stack of [kind, counter]
        self.links: list[tuple[str, int]] = []  # (href, position in out)
        self.pre = 0

    # Output helpers: "\n" marks a line break, "\n\n" a paragraph break.
    def _text(self, text: str):
        if text:
            self.out.append(text)

    def _break(self, blank: bool):
        self.out.append("\n\n" if blank else "\n")

    def handle_starttag(self, tag, attrs):
        if tag in SKIP_TAGS:
            self.skip += 1
            return
        attrs = dict(attrs)
        if tag == "br":
            self._break(False)
        elif tag == "hr":
            self._break(True)
            self._text("-" * 40)
            self._break(True)
        elif tag in ("ul", "ol"):
            self._break(not self.lists)
            self.lists.append([tag, 0])
        elif tag == "li":
            self._break(False)
            depth = max(len(self.lists) - 1, 0)
            if self.lists and self.lists[-1][0] == "ol":
                self.lists[-1][1] += 1
                self._text("  " * depth + f"{self.lists[-1][1]}. ")
            else:
                self._text("  " * depth + "- ")
        elif tag == "pre":
            self._break(True)
            self.pre += 1
        elif tag in BLOCK_TAGS:
            self._break(tag not in ("tr", "div", "dt", "dd"))
        elif tag in ("td", "th"):
            self._text(" ")
        elif tag == "a":
            self.links.append((attrs.get("href") or "", len(self.out)))
        elif tag == "img" and attrs.get("alt"):
            self._text(attrs["alt"])

    def handle_endtag(self, tag):
        if tag in SKIP_TAGS:
            self.skip = max(self.skip - 1, 0)
            return
        if tag in ("ul", "ol"):
            if self.lists:
                self.lists.pop()
            self._break(not self.lists)
        elif tag == "pre":
            self.pre = max(self.pre - 1, 0)
            self._break(True)
        elif tag in BLOCK_TAGS:
            self._break(tag not in ("tr", "div", "dt", "dd"))
        elif tag == "a" and self.links:
            href, start = self.links.pop()
            label = _SPACES.sub(" ", "".join(self.out[start:])).strip()
            if href and not href.startswith(("#", "javascript:")):
                shown = href[7:] if href.startswith("mailto:") else href
                if not label:
                    self._text(shown)
                elif label not in (href, shown):
                    self._text(f" ({shown})")

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)

    def handle_data(self, data):
        if self.skip:
            return
        if self.pre:
            self.out.append(data.replace("\n", "\x00"))  # keep pre line breaks through collapsing
        else:
            self._text(_SPACES.sub(" ", data))

    def result(self) -> str:
        raw = "".join(self.out)
        lines = []
        for line in raw.split("\n"):
            lines.append(line.replace("\x00", "\n").strip(" "))
        text = "\n".join(lines)
        text = re.sub(r"\n{3,}", "\n\n", text)
        return text.strip("\n ") + "\n" if text.strip() else ""


def html_to_text(html: str) -> str:
    """Plain-text alternative of an HTML body (links as "text (url)")."""
    if not html or not html.strip():
        return ""
    builder = _TextBuilder()
    builder.feed(html)
    builder.close()
    return builder.result()
