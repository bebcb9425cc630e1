"""What an evaluation produced: per-view scores, per-run records, the table by view group, JSON,
contact sheets."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from .metrics import ViewMetrics

__all__ = ["GROUPS", "EvalReport", "GroupRow", "RunImages", "RunRecord", "ViewScore", "view_group", "write_contact_sheet"]

GROUPS: tuple[str, ...] = ("input", "front", "near side", "side", "far side", "back")
"""View groups of the table: the input view; orbit azimuth 0; 45/315; 90/270; 135/225; 180."""

_GROUP_LABELS = {"input": "input", "front": "front (0)", "near side": "near side (45/315)", "side": "side (90/270)",
                 "far side": "far side (135/225)", "back": "back (180)"}
_METRICS: tuple[str, ...] = ("psnr", "psnr_masked", "ssim", "iou", "lpips")


def view_group(azimuth: float | None) -> str:
    """Group of an orbit view at ``azimuth`` degrees (subject frame); None is the input view."""
    if azimuth is None:
        return "input"
    a = float(azimuth) % 360.0
    off = min(a, 360.0 - a)  # 0 .. 180 away from the front
    if off < 22.5:
        return "front"
    if off < 67.5:
        return "near side"
    if off < 112.5:
        return "side"
    if off < 157.5:
        return "far side"
    return "back"


@dataclass
class ViewScore:
    """Scores of one view of one reconstruction.

    Attributes:
        subject: subject name; input_azimuth: azimuth of the photo (degrees, subject frame).
        view: ``"input"`` or the orbit azimuth as text (``"45"``); azimuth: the orbit azimuth or None.
        group: :data:`GROUPS` entry.
        raw: scores of the rendered prediction as is; aligned: after silhouette alignment.
    """

    subject: str
    input_azimuth: float
    view: str
    azimuth: float | None
    group: str
    raw: ViewMetrics
    aligned: ViewMetrics


@dataclass
class RunImages:
    """The images one reconstruction was scored on (views in ``labels`` order: "input", then the
    orbit azimuths). rgb (V, S, S, 3) float32 in [0, 1] on white, alpha (V, S, S) float32."""

    labels: list[str]
    truth_rgb: np.ndarray
    truth_alpha: np.ndarray
    pred_rgb: np.ndarray
    pred_alpha: np.ndarray

    def index(self, label: str) -> int:
        """Position of the view ``label`` (e.g. "input", "90")."""
        if label not in self.labels:
            raise KeyError(f"no view {label!r}; views are {self.labels}")
        return self.labels.index(label)


@dataclass
class RunRecord:
    """One reconstruction: which subject and photo, how long, the height alignment, or the error.
    ``images`` is filled only when :func:`~humansplat.eval.evaluate` is asked to keep them."""

    subject: str
    input_azimuth: float
    true_height_m: float = float("nan")
    predicted_height_m: float = float("nan")
    scale: float = 1.0
    gaussians: int = 0
    seconds: float = 0.0
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    images: RunImages | None = None


@dataclass
class GroupRow:
    """Mean scores of one view group over every subject and photo (nan when nothing was measured)."""

    group: str
    views: int
    raw: dict[str, float]
    aligned: dict[str, float]


def _mean(values: Sequence[float | None]) -> float:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(vals)) if vals else float("nan")


@dataclass
class EvalReport:
    """Everything :func:`humansplat.eval.evaluate` measured.

    Attributes:
        mode: the reconstruction mode asked for; size: view side in pixels; input_azimuths: degrees.
        framing: how the photos frame the subjects (``"full_body"`` or ``"portrait"``).
        views: one :class:`ViewScore` per scored view; runs: one :class:`RunRecord` per photo.
        lpips_note: one line saying whether LPIPS was measured, and why not.
        sheets: paths of the contact sheets written.
    """

    mode: str
    size: int
    input_azimuths: list[float]
    views: list[ViewScore] = field(default_factory=list)
    runs: list[RunRecord] = field(default_factory=list)
    lpips_note: str = ""
    sheets: list[str] = field(default_factory=list)
    framing: str = "full_body"

    @property
    def failures(self) -> list[RunRecord]:
        """The runs whose reconstruction raised."""
        return [r for r in self.runs if r.error is not None]

    def table(self, subject: str | None = None) -> list[GroupRow]:
        """Mean scores per view group (:data:`GROUPS` order), over all subjects or one."""
        rows = []
        for g in GROUPS:
            sel = [v for v in self.views if v.group == g and (subject is None or v.subject == subject)]
            rows.append(
                GroupRow(
                    group=g,
                    views=len(sel),
                    raw={m: _mean([getattr(v.raw, m) for v in sel]) for m in _METRICS},
                    aligned={m: _mean([getattr(v.aligned, m) for v in sel]) for m in _METRICS},
                )
            )
        return rows

    def markdown(self, subject: str | None = None) -> str:
        """The table by view group as Markdown (LPIPS columns only when it was measured)."""
        lp = any(v.raw.lpips is not None for v in self.views)
        cols = ["PSNR", "masked PSNR", "SSIM", "IoU"] + (["LPIPS"] if lp else [])
        keys = ["psnr", "psnr_masked", "ssim", "iou"] + (["lpips"] if lp else [])
        head = "| views | n | " + " | ".join(cols) + " | " + " | ".join(f"{c} (aligned)" for c in cols) + " |"
        lines = [head, "|" + " --- |" * (2 + 2 * len(cols))]
        fmt = {"psnr": "{:.2f}", "psnr_masked": "{:.2f}", "ssim": "{:.3f}", "iou": "{:.3f}", "lpips": "{:.3f}"}
        for row in self.table(subject):
            cells = [fmt[k].format(row.raw[k]) for k in keys] + [fmt[k].format(row.aligned[k]) for k in keys]
            lines.append(f"| {_GROUP_LABELS[row.group]} | {row.views} | " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def summary(self) -> str:
        """A few lines for people: what ran, failures, LPIPS note."""
        ok = [r for r in self.runs if r.error is None]
        secs = _mean([r.seconds for r in ok])
        lines = [
            f"mode {self.mode}, {self.framing.replace('_', ' ')} photos of {self.size} px at {', '.join(f'{a:+g}' for a in self.input_azimuths)} deg: "
            f"{len(ok)}/{len(self.runs)} reconstructions, {secs:.1f} s each on average",
            self.lpips_note,
        ]
        lines += [f"FAILED {r.subject} @ {r.input_azimuth:+g} deg: {r.error}" for r in self.failures]
        return "\n".join(line for line in lines if line)

    def to_dict(self) -> dict:
        """JSON-ready: settings, the table (all and per subject), every view and run."""

        def clean(x):  # nan -> None (JSON has no NaN)
            if isinstance(x, float) and not math.isfinite(x):
                return None
            if isinstance(x, dict):
                return {k: clean(v) for k, v in x.items()}
            if isinstance(x, list):
                return [clean(v) for v in x]
            return x

        subjects = list(dict.fromkeys(r.subject for r in self.runs))
        return clean(
            {
                "mode": self.mode,
                "size": self.size,
                "framing": self.framing,
                "input_azimuths": self.input_azimuths,
                "lpips_note": self.lpips_note,
                "table": [asdict(r) for r in self.table()],
                "per_subject": {s: [asdict(r) for r in self.table(s)] for s in subjects},
                "runs": [{k: v for k, v in asdict(r).items() if k != "images"} for r in self.runs],
                "views": [asdict(v) for v in self.views],
                "sheets": self.sheets,
            }
        )

    def save_json(self, path: str | Path) -> Path:
        """Write :meth:`to_dict` to ``path`` (folders created); returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=1))
        return path


def write_contact_sheet(
    path: str | Path,
    column_labels: Sequence[str],
    rows: Sequence[tuple[str, Sequence[np.ndarray], Sequence[str]]],
    title: str = "",
) -> Path:
    """A labelled grid of images as a PNG.

    Args:
        path: the PNG to write.
        column_labels: one label per column.
        rows: (row label, images (H, W, 3) float in [0, 1] or uint8, captions per image or []).
        title: a line at the top.
    """
    from PIL import Image, ImageDraw

    first = np.asarray(rows[0][1][0])
    H, W = first.shape[:2]
    left, top, pad = 150, 34, 4
    ncol = max(len(r[1]) for r in rows)
    sheet = Image.new("RGB", (left + ncol * (W + pad), top + len(rows) * (H + pad)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    draw.text((4, 2), title, fill=(0, 0, 0))
    for c, label in enumerate(column_labels[:ncol]):
        draw.text((left + c * (W + pad) + 3, 18), label, fill=(0, 0, 0))
    for r, (label, images, captions) in enumerate(rows):
        y = top + r * (H + pad)
        draw.text((4, y + H // 2 - 6), label, fill=(0, 0, 0))
        for c, img in enumerate(images):
            arr = np.asarray(img)
            if arr.dtype != np.uint8:
                arr = (np.clip(arr, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
            x = left + c * (W + pad)
            sheet.paste(Image.fromarray(arr), (x, y))
            draw.rectangle([x, y, x + W - 1, y + H - 1], outline=(210, 210, 210))
            if c < len(captions):
                draw.text((x + 3, y + H - 13), captions[c], fill=(200, 0, 0))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, optimize=True)
    return path
