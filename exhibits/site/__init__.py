"""The exhibit site: the typed context, jinja2 templates and static assets that make the folder.

- :mod:`exhibits.site.context`: the frozen context built from the spec and the shown items only.
- :mod:`exhibits.site.render`: :func:`~exhibits.site.render.render_site`, the one jinja2
  environment and every file of the site.
- :mod:`exhibits.site.search`, :mod:`~exhibits.site.iiif`, :mod:`~exhibits.site.jsonld`,
  :mod:`~exhibits.site.sitemap`: search.json, IIIF Presentation 3, schema.org JSON-LD,
  sitemap.xml and robots.txt.
- :mod:`exhibits.site.csp`: each page's Content-Security-Policy.
- :mod:`exhibits.site.labels`: what each Local Contexts Label and Notice means, in words.
- :mod:`exhibits.site.assets`: the vendored libraries and the site's scripts (front end).
"""
