"""The result of a reconstruction: what the CLI writes and the app shows, and its one file layout.

:meth:`Result.save` writes every output file of one reconstruction into a folder; the CLI (one folder
per photo) and the app (one folder per request) both call it, so the names are the same everywhere:

=================== ====================================================================================
``gaussians.ply``   the avatar, standard 3D Gaussian Splatting layout (SuperSplat, the Inria viewer, gsplat)
``gaussians.splat`` the same Gaussians in the compact ``.splat`` layout (web viewers)
``mesh.glb``        a vertex-coloured mesh of the avatar (glTF viewers, Blender)
``turntable.mp4``   a 360 deg orbit, H.264 (only when the result has turntable frames)
``views.png``       the views side by side (front | left | back | right)
``body.json``       the fitted body, schema ``humansplat.body/1`` (:meth:`BodyFit.to_dict`)
``report.json``     schema ``humansplat.report/1``: source, mode, the photo's framing, weights that ran, Gaussian count,
                    per-stage seconds (``timings_s``, including the writers), ``quality``, ``fit_errors``,
                    notes, the views' cameras (``view_cameras``) and the list of ``files``
=================== ====================================================================================

:meth:`Result.load` reads such a folder back into a :class:`Result`.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from .cameras import Cameras
from .gaussians import Gaussians
from .modes import Mode  # re-exported (result API)
from .prior.body_fit import BodyFit

ProgressCallback = Callable[[float, str], None]
"""``callback(fraction in [0, 1], stage description)``, called as stages start and finish."""

RESULT_FILES: dict[str, str] = {
    "ply": "gaussians.ply",
    "splat": "gaussians.splat",
    "glb": "mesh.glb",
    "video": "turntable.mp4",
    "views": "views.png",
    "body": "body.json",
    "report": "report.json",
}
"""Key -> file name of everything :meth:`Result.save` writes (module docstring)."""

REPORT_SCHEMA = "humansplat.report/1"
"""``schema`` value of ``report.json``."""


def views_strip(views: np.ndarray) -> np.ndarray:
    """(V, S, S, 3) uint8 views -> one (S, V*S, 3) strip, left to right (``views.png``)."""
    return np.concatenate(list(views), axis=1)


def views_from_strip(strip: np.ndarray, count: int) -> np.ndarray:
    """Inverse of :func:`views_strip`: one (S, V*S, 3) strip -> (V, S, S, 3) views, ``count`` = V."""
    if count <= 0 or strip.ndim != 3 or strip.shape[1] != count * strip.shape[0]:
        raise ValueError(f"a strip of {count} square views must be (S, {count}*S, 3), got shape {strip.shape}")
    return np.stack(np.split(strip, count, axis=1))


def _cameras_to_dict(cameras: Cameras) -> dict[str, Any]:
    """``report.json``'s ``view_cameras``: ``width``, ``height`` (pixels), ``K`` (V, 3, 3),
    ``world_to_camera`` (V, 4, 4) (:mod:`humansplat.cameras`' convention)."""
    return {
        "width": cameras.width,
        "height": cameras.height,
        "K": cameras.Ks.detach().cpu().tolist(),
        "world_to_camera": cameras.viewmats.detach().cpu().tolist(),
    }


def _cameras_from_dict(data: dict[str, Any]) -> Cameras:
    """Inverse of :func:`_cameras_to_dict`."""
    return Cameras(
        viewmats=torch.tensor(data["world_to_camera"], dtype=torch.float32).reshape(-1, 4, 4),
        Ks=torch.tensor(data["K"], dtype=torch.float32).reshape(-1, 3, 3),
        width=int(data["width"]),
        height=int(data["height"]),
    )


def turntable_fps(frames: int) -> float:
    """Default frame rate of a turntable video: about 3 s a turn, 8 to 24 frames per second
    (36 frames -> 12 fps; never a flicker for few frames, never slow motion for many)."""
    return float(min(24.0, max(8.0, frames / 3.0)))


@dataclass
class Result:
    """Everything one reconstruction produced.

    Attributes:
        gaussians: the avatar, world = input camera frame (see :mod:`humansplat.cameras`).
        body_fit: the structure prior it was built from.
        views: (V, S, S, 3) uint8 multi-view images: SV3D views when the synthesizer ran, else the
            reconstruction rendered from the 4 orthogonal views (front, left, back, right).
        view_cameras: the V cameras of ``views``.
        turntable: (T, S, S, 3) uint8 frames of a 360 deg orbit (T may be 0 if not requested).
        mode: which mode ran ("prior", "views" or "full").
        weights: component -> weights that ran (Hub repo id and revision, local path, or "none").
        timings: stage -> seconds.
        quality: input-view fidelity, measured on the one view the avatar is built from (not on unseen
            views): ``input_view_psnr_db`` (re-render vs. photo inside the person mask, dB),
            ``input_view_alpha_iou`` (rendered alpha vs. person mask); and ``back_coverage`` (share of
            the body's back silhouette the back view covers).
        notes: messages for the user (fallbacks, several people, cut off, ...).
    """

    gaussians: Gaussians
    body_fit: BodyFit
    views: np.ndarray
    view_cameras: Cameras
    turntable: np.ndarray
    mode: Mode
    weights: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    quality: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def framing(self) -> str | None:
        """How much of the person the photo shows: ``"full body"``, ``"half body"``, ``"head and
        shoulders"`` or ``"face only"`` (:mod:`humansplat.prior.photo_framing`); None without a detected
        crop."""
        crop = self.body_fit.crop
        return None if crop is None else crop.framing

    def summary(self) -> str:
        """One line for people: mode, the photo's framing, weights, total time and per-stage times."""
        w = ", ".join(f"{k}={v}" for k, v in self.weights.items()) or "no network weights"
        t = ", ".join(f"{k} {v:.1f}s" for k, v in self.timings.items())
        total = sum(self.timings.values())
        framing = f"{self.framing} photo | " if self.framing else ""
        return f"mode: {self.mode} | {framing}weights: {w} | {len(self.gaussians):,} Gaussians | {total:.1f}s ({t})"

    def save(
        self, folder: str | Path, *, source: str = "", fps: float | None = None, mesh_resolution: int = 128
    ) -> dict[str, Path]:
        """Write every output file (module docstring) into ``folder`` (created if needed).

        Args:
            folder: the output folder; existing files of the same names are replaced.
            source: what the result was made from (e.g. the photo's path), recorded in ``report.json``.
            fps: turntable frame rate (default :func:`turntable_fps` of the frame count).
            mesh_resolution: voxels along the avatar's longest side for ``mesh.glb``.

        Returns:
            key -> path of each file written (keys of :data:`RESULT_FILES`; no ``video`` without frames).
        """
        from PIL import Image

        from .io.mesh import save_glb
        from .io.ply import save_ply, save_splat
        from .io.video import write_video

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = {key: folder / name for key, name in RESULT_FILES.items()}
        timings = dict(self.timings)

        def timed(key: str, write: Callable[[], Any]) -> None:
            t = time.perf_counter()
            write()
            timings[f"save_{key}"] = round(time.perf_counter() - t, 3)

        # the video's encoder (ffmpeg, its own process) runs while the other files are written
        with ThreadPoolExecutor(max_workers=1) as pool:
            video = None
            if len(self.turntable):
                rate = fps if fps is not None else turntable_fps(len(self.turntable))
                video = pool.submit(timed, "video", lambda: write_video(self.turntable, paths["video"], fps=rate))
            else:
                del paths["video"]
            timed("ply", lambda: save_ply(self.gaussians, paths["ply"]))
            timed("splat", lambda: save_splat(self.gaussians, paths["splat"]))
            timed("glb", lambda: save_glb(self.gaussians, paths["glb"], resolution=mesh_resolution))
            Image.fromarray(views_strip(self.views)).save(paths["views"], compress_level=1)  # fast; ~1.4x bytes
            self.body_fit.write_json(paths["body"])
            if video is not None:
                video.result()  # re-raises an encoder failure
        report = {
            "schema": REPORT_SCHEMA,
            "source": source,
            "mode": self.mode,
            "framing": self.framing,
            "weights": dict(self.weights),
            "network_weights": "none (prior mode: no network weights ran)" if self.mode == "prior" else "see weights",
            "gaussians": len(self.gaussians),
            "timings_s": timings,
            "quality": dict(self.quality),
            "fit_errors": {k: float(v) for k, v in (self.body_fit.errors or {}).items()},
            "notes": list(self.notes),
            "view_cameras": _cameras_to_dict(self.view_cameras),
            "files": [p.name for p in paths.values()],
        }
        paths["report"].write_text(json.dumps(report, indent=1), encoding="utf-8")
        return paths

    @classmethod
    def load(cls, folder: str | Path, *, turntable: bool = True) -> Result:
        """The :class:`Result` that :meth:`save` wrote into ``folder`` (its inverse).

        Read back: the Gaussians (``gaussians.ply``), the body (``body.json``; its ``crop`` is None: the
        file holds the crop's description, not its pixels, so ``framing`` is None too), the views
        (``views.png`` cut into the ``view_cameras`` of ``report.json``), the turntable (``turntable.mp4``
        decoded, H.264 so not bit-exact; (0, S, S, 3) without the file or with ``turntable=False``), and
        mode, weights, timings (``save_*`` writers included), quality and notes from ``report.json``.

        Raises:
            FileNotFoundError: ``gaussians.ply``, ``views.png``, ``body.json`` or ``report.json`` is missing
                (names it; the other files are not read).
            ValueError: ``report.json`` is not ``humansplat.report/1`` or has no ``view_cameras``.
        """
        from PIL import Image

        from .io.ply import load_ply

        folder = Path(folder)
        paths = {key: folder / name for key, name in RESULT_FILES.items()}
        missing = [paths[k].name for k in ("ply", "views", "body", "report") if not paths[k].is_file()]
        if missing:
            raise FileNotFoundError(
                f"{folder} is not a saved result: {', '.join(missing)} missing (Result.save writes them)"
            )
        report = json.loads(paths["report"].read_text(encoding="utf-8"))
        if report.get("schema") != REPORT_SCHEMA or "view_cameras" not in report:
            raise ValueError(
                f"{paths['report']} is not a {REPORT_SCHEMA} report with view_cameras "
                f"(schema {report.get('schema')!r}); save the result again with Result.save"
            )
        cameras = _cameras_from_dict(report["view_cameras"])
        views = views_from_strip(np.asarray(Image.open(paths["views"]).convert("RGB")), len(cameras))
        frames = np.zeros((0, *views.shape[1:]), np.uint8)
        if turntable and paths["video"].is_file():
            import imageio.v3 as iio

            frames = np.stack(list(iio.imiter(paths["video"])))
        return cls(
            gaussians=load_ply(paths["ply"]),
            body_fit=BodyFit.from_dict(json.loads(paths["body"].read_text(encoding="utf-8"))),
            views=views,
            view_cameras=cameras,
            turntable=frames,
            mode=report["mode"],
            weights=dict(report.get("weights", {})),
            timings={k: float(v) for k, v in report.get("timings_s", {}).items()},
            quality={k: float(v) for k, v in report.get("quality", {}).items()},
            notes=list(report.get("notes", [])),
        )
