"""A sphinx-gallery image scraper for figures that never touch pyplot.

cgrad.plot builds ``matplotlib.figure.Figure`` objects directly (it must work under any
backend and never open windows), so sphinx-gallery's matplotlib scraper, which asks
pyplot for its open figures, cannot see them. This scraper looks for Figure objects
among the example's global variables after each code block and saves each new one once.
"""
from matplotlib.figure import Figure
from sphinx_gallery.scrapers import figure_rst

_scraped = []          # the figures already saved (kept alive so an id is never reused)


def figures(block, block_vars, gallery_conf):
    """Save the Figures that appeared in the example's globals during this block.

    Parameters
    ----------
    block : tuple
        The code block (sphinx-gallery's ``(label, content, line_number)``).
    block_vars : dict
        sphinx-gallery's per-block state: ``example_globals`` and
        ``image_path_iterator``.
    gallery_conf : dict
        The gallery configuration (``src_dir``).

    Returns
    -------
    str
        The reStructuredText that shows the saved images.
    """
    paths = []
    for value in list(block_vars["example_globals"].values()):
        if isinstance(value, Figure) and not any(value is f for f in _scraped):
            _scraped.append(value)
            path = next(block_vars["image_path_iterator"])
            value.savefig(path, dpi=90)
            paths.append(path)
    return figure_rst(paths, gallery_conf["src_dir"])
