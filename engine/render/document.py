"""The full HTML document an email's HTML goes out in, shared by the previews and
the mailer so that what staff preview is what recipients get (DESIGN.md "Email headers").

A template written as a fragment ("<p>Hi</p>") is wrapped in a document with a
doctype, a charset and the base style mail apps give a fragment (their own
sans-serif); a template that is already a document is left as it is.
"""
import re

# Mail apps show a fragment in their own sans-serif font; the wrapper does the same.
BASE_STYLE = ('<style>body{margin:16px;font:14px/1.55 -apple-system,"Segoe UI",Helvetica,Arial,'
              'sans-serif;color:#1c2033}</style>')
_DOCUMENT = re.compile(r"<(?:body|html)\b", re.IGNORECASE)
_HEAD = ('<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n'
         '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
         + BASE_STYLE + '\n</head>\n<body>\n')
_TAIL = "\n</body>\n</html>\n"


def is_document(html: str) -> bool:
    """True when the HTML has its own <html> or <body>."""
    return bool(_DOCUMENT.search(html or ""))


def as_document(html: str) -> str:
    """The HTML as a full document: a fragment wrapped, a document unchanged, "" stays ""."""
    if not html or is_document(html):
        return html or ""
    return _HEAD + html + _TAIL
