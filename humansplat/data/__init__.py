"""Datasets of scanned people: textured scans in one frame (:mod:`.scans`) and their multi-view
renders in the training layout (:mod:`.render_scans`, ``humansplat-render-scans``; docs/data.md)."""

from .scans import MESH_SUFFIXES, Scan, ScanBody, ScanEntry, ScanError, find_body, find_scans, load_scan, scan_rotation

__all__ = [
    "MESH_SUFFIXES",
    "Scan",
    "ScanBody",
    "ScanEntry",
    "ScanError",
    "find_body",
    "find_scans",
    "load_scan",
    "scan_rotation",
]
