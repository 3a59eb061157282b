"""Sphinx configuration of the course website (copied into the staged project by website/build.py).

Everything the pages load is in the build: the theme's files, a local MathJax 2 (``_static/mathjax``,
from the jupyter-server-mathjax package), Sphinx's own search index. No analytics, no web fonts, no
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

# MathJax 2 from the build itself (jupyter-server-mathjax's copy: no CDN): TeX in, HTML-CSS out with the
# STIX web fonts it ships, MathML kept beside each formula for screen readers.
mathjax_path = "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full"
mathjax2_config = {
    "tex2jax": {"inlineMath": [["\\(", "\\)"]], "displayMath": [["\\[", "\\]"]], "processEscapes": True},
    "HTML-CSS": {"availableFonts": [], "preferredFont": None, "webFont": "STIX-Web", "imageFont": None},
    "menuSettings": {"assistiveMML": True},
    "messageStyle": "none",
}

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
