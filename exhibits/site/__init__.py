"""The exhibit site: the typed context, jinja2 templates and static assets that make the folder.

Filled in by the site slice of issue 12 (see :mod:`exhibits.site.render`).
"""
