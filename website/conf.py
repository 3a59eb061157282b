"""Sphinx configuration of the course website (copied into the staged project by website/build.py).

Everything the pages load is in the build: the theme's files, a local MathJax 3 (``_static/mathjax``,
npm's ``mathjax``), Sphinx's own search index. No analytics, no web fonts, no
source notebooks (``html_copy_source = False``, no download or repository buttons).
"""
from __future__ import annotations

import json
from pathlib import Path

from docutils import nodes

HERE = Path(__file__).resolve().parent

project = "aecourse"
author = "the aecourse authors"
copyright = "the aecourse authors, MIT licence"  # noqa: A001 - Sphinx's name
language = "en"
extensions = ["myst_nb"]
exclude_patterns = ["_build", "**.ipynb_checkpoints", "image_alts.json"]
master_doc = "index"

# Notebooks are staged with their outputs attached; never execute here.
nb_execution_mode = "off"
nb_merge_streams = True
# Plain text of an output's text/plain after rich mimes; widgets are replaced by the builder.
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None)]
myst_enable_extensions = ["dollarmath", "amsmath"]
# "$$...$$" inside a paragraph (no blank line before it), as the chapters write it and Jupyter renders it.
myst_dmath_double_inline = True
myst_heading_anchors = 3
suppress_warnings = ["myst.header"]  # a chapter's "###" under "#" (a goal box) is fine on a page

html_theme = "sphinx_book_theme"
html_title = "aecourse: autoencoders, step by step"
html_copy_source = False
html_show_sourcelink = False
html_show_sphinx = False
html_static_path = ["_static"]
templates_path = ["_templates"]
# The theme's sidebar (theme.conf) with the site title in a landmark and no icon links (there are none).
html_sidebars = {"**": ["site-logo.html", "search-button-field.html", "sbt-sidebar-nav.html"]}
html_css_files = ["site.css"]
html_last_updated_fmt = None
# The pydata theme's colour mode: a value of its own (unset, its script logs an error on every page).
html_context = {"default_mode": "light"}
html_theme_options = {
    "use_download_button": False,
    "use_repository_button": False,
    "use_source_button": False,
    "use_edit_page_button": False,
    "use_issues_button": False,
    "use_fullscreen_button": False,
    "launch_buttons": {},
    "home_page_in_toc": True,
    "show_navbar_depth": 1,
    "navigation_with_keys": False,
    "pygments_light_style": "a11y-high-contrast-light",
    "pygments_dark_style": "a11y-high-contrast-dark",
}

# MathJax 3 from the build itself (npm's mathjax, copied by build.py into _static/mathjax: no CDN); myst-parser
# sets its mathjax3_config (process the "math" spans of notebook pages). Assistive MathML comes with it.
mathjax_path = "mathjax/tex-mml-chtml.js"

# Alt texts of the figures (written by the builder: sha256 of the image -> alt), which myst-nb names
# by that same sha256. myst-nb 1.x reads only width/height from an output's metadata.
_ALTS = json.loads((HERE / "image_alts.json").read_text()) if (HERE / "image_alts.json").is_file() else {}


def _alt_texts(app, doctree) -> None:
    for node in doctree.findall(nodes.image):
        alt = _ALTS.get(Path(node.get("uri", "")).stem)
        if alt and not node.get("alt"):
            node["alt"] = alt


def setup(app):
    app.connect("doctree-read", _alt_texts)
