"""sitemap.xml and robots.txt.

The sitemap protocol (https://www.sitemaps.org/protocol.html) wants each ``<loc>`` to be a
full URL with its protocol, so a sitemap is written only when the spec gives ``base_url``;
without it there is no correct sitemap to write, and robots.txt names none. ``lastmod`` is
left out: the only time a build knows is ``built_at``, which says when the site was built,
not when a page changed.
"""

from __future__ import annotations

from urllib.parse import quote
from xml.sax.saxutils import escape

from exhibits.site.context import SiteContext

__all__ = ["robots_txt", "sitemap_xml"]

_URL_SAFE = ":/?#[]@!$&'()*+,;=%~"


def _absolute(base: str, path: str) -> str:
    # Percent-encode what a URL may not hold as is (non-ASCII in the base's path), then
    # entity-escape for XML, both as the protocol asks.
    return escape(quote(base + path, safe=_URL_SAFE), {"'": "&apos;", '"': "&quot;"})


def sitemap_xml(site: SiteContext) -> bytes | None:
    """The sitemap of the index and every item page; None without a ``base_url``."""
    base = site.base_url
    if base is None:
        return None
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">',
        f"  <url><loc>{_absolute(base, '')}</loc></url>",
    ]
    lines += [f"  <url><loc>{_absolute(base, item.href)}</loc></url>" for item in site.items]
    lines.append("</urlset>")
    return ("\n".join(lines) + "\n").encode("utf-8")


def robots_txt(site: SiteContext) -> bytes:
    """Every crawler welcome; the sitemap named when there is one."""
    text = "User-agent: *\nAllow: /\n"
    if site.base_url is not None:
        text += f"\nSitemap: {quote(site.base_url + 'sitemap.xml', safe=_URL_SAFE)}\n"
    return text.encode("utf-8")
