"""Datasets of scanned people: textured scans in one frame (:mod:`.scans`: ``load_scan``, ``find_scans``,
``Scan``, ``ScanError``, ...) and their multi-view renders in the training layout (:mod:`.render_scans`,
``humansplat-render-scans``; docs/data.md)."""

from .scans import *  # noqa: F403 - this package's API is the scans module's
from .scans import __all__  # noqa: F401
