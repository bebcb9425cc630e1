"""HumanSplat Gradio app: one photo of a person -> 3D Gaussians, turntable video, downloads.

UI only: every step is a call into the ``humansplat`` package (photo intake, person detection, body
fit, reconstruction, file writers). Importing this module has no side effects: no model is loaded and
nothing is launched. ``serve()`` (``python app.py``) places the networks on the GPU at start-up when
there is one (:func:`place_models`); elsewhere they load on first use, once per process.

On a ZeroGPU Space only the networks run inside ``spaces.GPU``: one decorated function,
:func:`_gpu_networks` (the synthesizer's sampling and the Gaussian fit to its views, or full mode's
network), whose duration is computed from the request (:func:`humansplat.gpu_stage.gpu_seconds`:
56 s for a default views-mode request). Photo intake, detection, the body fit, prior mode, the
views, the turntable, animation and file writing run on the CPU outside it; a prior-mode request
asks for no GPU time. A refused or stopped GPU call (quota used up, no GPU free, time run out) gives
the prior-mode result and one sentence saying so (:func:`_refusal_sentence`).

Run locally::

    python app.py                     # http://127.0.0.1:7860 (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT)

Endpoints (see the app's "Use via API" page): ``/reconstruct``, ``/fit_body`` and ``/animate``.

Settings (environment variables, all optional):
    HUMANSPLAT_APP_TIME_LIMIT   seconds one reconstruction or animation may take before it is stopped,
                                checked inside the long stages too (default 600; 0 = no limit).
    HUMANSPLAT_APP_CONCURRENCY  reconstructions run at once (default 2 on CPU, 1 with ZeroGPU).
    HUMANSPLAT_APP_QUEUE_SIZE   requests that may wait in the queue (default 32).
    HUMANSPLAT_APP_MAX_FILE_MB  largest upload in megabytes (default 20).
    HUMANSPLAT_APP_SESSION_TTL  seconds after which files of sessions that never closed are deleted
                                (default 7200; the session folders and Gradio's cached copies alike).
    HUMANSPLAT_APP_MAX_DISK_MB  most megabytes the sessions' files and Gradio's cached copies may hold
                                (default 2048); beyond it the oldest go first.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import hashlib
import logging
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# Idle OpenMP threads sleep instead of spinning: 3-10x faster renders on small shared CPUs
# (docs/benchmarks.md). Must be set before torch starts its thread pool.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import gradio as gr

try:  # ZeroGPU Spaces: GPU work must run inside functions decorated with spaces.GPU.
    import spaces  # type: ignore[import-not-found]
except ImportError:  # everywhere else (CPU, a dedicated GPU): the same code, undecorated
    spaces = None

ZERO_GPU = spaces is not None and (
    bool(getattr(getattr(getattr(spaces, "config", None), "Config", None), "zero_gpu", False))
    or os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "true")
)
"""True on a ZeroGPU Space (``spaces`` installed is not enough: requirements-gpu.txt installs it anywhere)."""

log = logging.getLogger("humansplat.app")

# ----------------------------------------------------------------------------------- settings
MODES = ("auto", "prior", "views", "full")
RESOLUTIONS = (256, 384, 512)
DEFAULT_RESOLUTION = 512
DEFAULT_FRAMES = 24
MIN_FRAMES, MAX_FRAMES = 8, 72
MAX_SEED = 2**31 - 1
"""The app's option ranges: the library's (humansplat.api.LIMITS) narrowed for a shared server;
checked by humansplat.api.check_options with APP_LIMITS, shown by the sliders."""
TIME_LIMIT_S = float(os.environ.get("HUMANSPLAT_APP_TIME_LIMIT", "600"))
CONCURRENCY = int(os.environ.get("HUMANSPLAT_APP_CONCURRENCY", "1" if ZERO_GPU else "2"))
QUEUE_SIZE = int(os.environ.get("HUMANSPLAT_APP_QUEUE_SIZE", "32"))
MAX_FILE_MB = int(os.environ.get("HUMANSPLAT_APP_MAX_FILE_MB", "20"))
SESSION_TTL_S = float(os.environ.get("HUMANSPLAT_APP_SESSION_TTL", "7200"))
MAX_DISK_MB = float(os.environ.get("HUMANSPLAT_APP_MAX_DISK_MB", "2048"))
NETWORK_DEVICE = "cuda"
"""Where the networks run on ZeroGPU (inside :func:`_gpu_networks`); everything else renders on the CPU."""
DEFAULT_MOTION = "walk"
ANIMATION_FPS = 24
MIN_ANIMATION_FRAMES, MAX_ANIMATION_FRAMES = 8, 96
"""/animate's frame range (0 = one cycle of the motion at ANIMATION_FPS, as the Animate button plays)."""

ASSETS = Path(__file__).resolve().parent / "assets"
EXAMPLES_DIR = ASSETS / "examples"
EXAMPLES_CACHE = "humansplat-examples"  # folder in Gradio's cache holding the examples written at start

NEXT_STAGE = {  # iter_reconstruct's stage that just ended -> what runs next (progress bar text)
    "start": "Reading the photo",
    "load": "Finding the person",
    "detect": "Fitting the body model",
    "fit": "Building the 3D Gaussians (views mode: generating the views first)",
    "synthesize": "Fitting the Gaussians to the generated views",
    "reconstruct": "Rendering the views",
    "views": "Rendering the turntable",
    "turntable": "Rendering the turntable",
    "writing": "Writing the files",
    "done": "Done",
}

HEADER = """\
# HumanSplat: one photo to a 3D Gaussian avatar

Upload a photo of one person. HumanSplat ([NeurIPS 2024](https://arxiv.org/abs/2406.12459)) finds the
person, fits a 3D body model to them (the *structure prior*) and builds 3D Gaussians that you can turn
around, download as `.ply` (3D Gaussian Splatting) or `.glb`, and watch as a turntable video.
In **full** mode a multi-view diffusion model imagines the unseen sides and a latent reconstruction
transformer turns them into Gaussians; in **views** mode the public human fine-tuned SV3D model
(GenHuman3D) imagines the unseen sides and the Gaussians are fitted to its views and the photo; in
**prior** mode the Gaussians are built from the fitted body and the photo alone (no network weights). Network weights that were not trained are never used to
make a result; every result says which mode and weights produced it.
"""


VIEWER_HEIGHT = 480  # px; the splat viewer's focal length is fixed in pixels, so a taller canvas sees more
CSS = "#viewer canvas { background: #ffffff !important; }"  # the splat viewer clears to black otherwise

# ----------------------------------------------------------------------------------- sessions
_SAFE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


class SessionFolders:
    """One output folder per browser/API session, under Gradio's cache so files are served without copies.

    ``root/<session>/<run>/`` holds one request's files. ``open`` runs on page load, ``close`` when the
    session ends (tab closed, ``Client.close()``). Two bounds hold for sessions that never end (API
    clients that skip ``close()``, crawlers), checked whenever a run starts and ends:

    * age: session folders not touched for ``ttl_s`` seconds are deleted (Gradio's ``delete_cache``
      deletes its own cached files after the same age, see :func:`build_demo`);
    * disk: the session folders plus Gradio's cached copies (uploads, hash-named folders directly under
      the cache folder) may hold at most ``max_bytes``; beyond it the oldest runs and copies are deleted
      first, never a run still being written nor the examples. A session whose files went this way is
      told so on its next request (:meth:`take_notice`).
    """

    def __init__(
        self,
        root: Path | None = None,
        ttl_s: float = SESSION_TTL_S,
        max_bytes: int = int(MAX_DISK_MB * 2**20),
        cache: Path | None = None,
    ) -> None:
        self._root = None if root is None else Path(root)
        self._cache = None if cache is None else Path(cache)
        self.ttl_s = ttl_s
        self.max_bytes = max_bytes
        self.keep: set[str] = set()  # files never pruned (examples Gradio copied into its cache)
        self._active: set[Path] = set()  # runs being written
        self._reading: collections.Counter[Path] = collections.Counter()  # finished runs being read (reuse)
        self._purged: dict[str, int] = {}
        self._lock = threading.Lock()

    @property
    def cache(self) -> Path:
        """The given cache, else Gradio's cache folder (GRADIO_TEMP_DIR is read now)."""
        return self._cache or Path(gr.utils.get_upload_folder())

    @property
    def root(self) -> Path:
        """The given root, else ``<cache>/humansplat-sessions``."""
        return self._root or self.cache / "humansplat-sessions"

    def _session_dir(self, session_hash: str | None) -> Path:
        name = session_hash or "anonymous"
        if not _SAFE_NAME.fullmatch(name):  # the hash comes from the client: never use it as a path as is
            name = hashlib.sha256(name.encode()).hexdigest()[:32]
        return self.root / name

    def open(self, request: gr.Request) -> None:
        """Create the session's folder (``demo.load``)."""
        self._session_dir(request.session_hash).mkdir(parents=True, exist_ok=True)

    def close(self, request: gr.Request) -> None:
        """Delete the session's folder and everything in it (``demo.unload``)."""
        folder = self._session_dir(request.session_hash)
        shutil.rmtree(folder, ignore_errors=True)
        self._purged.pop(folder.name, None)

    def new_run(self, request: gr.Request | None) -> Path:
        """A fresh, empty folder for one request (a new name each time: browsers cache files by URL).
        Call :meth:`finish` when the request ends."""
        self.prune()
        run = (
            self._session_dir(request.session_hash if request else None)
            / f"{time.strftime('%H%M%S')}-{uuid.uuid4().hex[:8]}"
        )
        run.mkdir(parents=True)
        with self._lock:
            self._active.add(run)
        return run

    def finish(self, run: Path) -> None:
        """The request writing ``run`` ended: its folder may be pruned from now on; the bounds are applied."""
        with self._lock:
            if self._reading[run]:
                self._reading[run] -= 1
                self._reading += collections.Counter()  # drops zero counts
            else:
                self._active.discard(run)
        self.prune()

    def reuse(self, request: gr.Request | None, needs: tuple[str, ...]) -> Path | None:
        """The session's newest finished run folder holding every file named in ``needs`` (None if none).

        The folder is held (never pruned) until :meth:`finish` is called on it; several readers may hold it.
        """
        session = self._session_dir(request.session_hash if request else None)
        with self._lock:
            runs = [
                r for r in (session.iterdir() if session.is_dir() else ())
                if r not in self._active and all((r / name).is_file() for name in needs)
            ]
            if not runs:
                return None
            newest = max(runs, key=lambda r: _unit(r)[0])
            self._reading[newest] += 1
        return newest

    def _held(self) -> set[Path]:
        """Run folders the bounds must not delete: being written or being read."""
        return self._active | set(self._reading)

    def take_notice(self, request: gr.Request | None) -> str | None:
        """A message for a session some of whose earlier files were deleted to bound the disk (once)."""
        name = self._session_dir(request.session_hash if request else None).name
        with self._lock:
            count = self._purged.pop(name, 0)
        if not count:
            return None
        return (
            f"{count} earlier result(s) of this session were deleted to keep the app's files under "
            f"{self.max_bytes / 2**20:.0f} MB (oldest first); their download links no longer work. "
            "Download the files you want to keep when a result appears."
        )

    def prune(self) -> None:
        """Apply both bounds (class docstring): the age of session folders, then the disk cap."""
        with self._lock:
            self._prune_old()
            self._cap_disk()

    def _prune_old(self) -> None:
        if not self.root.is_dir():
            return
        now = time.time()
        for folder in self.root.iterdir():
            try:
                if now - folder.stat().st_mtime > self.ttl_s and not any(folder in r.parents for r in self._held()):
                    shutil.rmtree(folder, ignore_errors=True)
            except FileNotFoundError:
                continue

    def disk_units(self) -> list[tuple[float, int, Path]]:
        """What the disk cap may delete, as (modified time, bytes, path): every finished run folder and
        every entry of Gradio's cache except the sessions root and kept files; unsorted."""
        units: list[tuple[float, int, Path]] = []
        if self.root.is_dir():
            for session in self.root.iterdir():
                units += [_unit(run) for run in session.iterdir()] if session.is_dir() else []
        if self.cache.is_dir():
            for entry in self.cache.iterdir():
                if entry == self.root or self.root.is_relative_to(entry) or entry.name == EXAMPLES_CACHE:
                    continue
                units.append(_unit(entry))
        held = self._held()
        return [u for u in units if u[2] not in held and not any(_contains(u[2], k) for k in self.keep)]

    def _cap_disk(self) -> None:
        units = self.disk_units()
        total = sum(size for _, size, _ in units) + sum(_unit(run)[1] for run in self._held() if run.exists())
        for _, size, path in sorted(units):
            if total <= self.max_bytes:
                break
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            total -= size
            if self.root in path.parents:
                session = path.parent.name
                self._purged[session] = self._purged.get(session, 0) + 1
                log.info("disk cap %.0f MB: deleted %s (%.1f MB)", self.max_bytes / 2**20, path, size / 2**20)


def _unit(path: Path) -> tuple[float, int, Path]:
    """(newest modification time, total bytes, path) of a file or folder (what vanished meanwhile counts 0)."""
    newest, size = 0.0, 0
    files = [path] if not path.is_dir() else [Path(d) / f for d, _, fs in os.walk(path) for f in fs]
    for f in files:
        try:
            st = f.stat()
        except FileNotFoundError:
            continue
        newest, size = max(newest, st.st_mtime), size + st.st_size
    if path.is_dir():
        with contextlib.suppress(FileNotFoundError):
            newest = max(newest, path.stat().st_mtime)
    return newest, size, path


def _contains(path: Path, file: str) -> bool:
    return file == str(path) or file.startswith(str(path) + os.sep)


_SESSIONS = SessionFolders()


# ----------------------------------------------------------------------------------- inputs
def _raw_upload(payload: Any) -> str | bytes | None:
    """Preprocessing of the photo input: the uploaded file's path (or an inline data: URL's bytes), undecoded.

    Gradio's own image preprocessing opens the file with PIL and fails with a bare error on files that
    are not images; here :func:`humansplat.io.images.load_photo` reads every file and explains problems.
    Gradio has already checked that the file is one the user uploaded (in its upload folder).
    """
    if payload is None:
        return None
    url = getattr(payload, "url", None)
    if url and url.startswith("data:"):
        return base64.b64decode(url.split(",", 1)[1])
    return payload.path


def photo_input(**kwargs: Any) -> gr.Image:
    """``gr.Image`` (upload, webcam, clipboard) whose value reaches the app as the raw uploaded file.

    (An instance attribute, not a subclass: subclassing a Gradio component writes a ``.pyi`` stub
    beside this file at import time.)
    """
    photo = gr.Image(type="filepath", image_mode=None, **kwargs)
    photo.preprocess = _raw_upload  # type: ignore[method-assign]
    return photo


def _load_photo(photo: str | bytes | None):
    """The upload -> :class:`humansplat.io.images.Photo`, or a ``gr.Error`` that says what to do."""
    from humansplat.errors import InputError
    from humansplat.io.images import load_photo

    if photo is None:
        raise gr.Error(
            "No photo given. Upload a photo of a person (JPEG or PNG), or pick an example.", print_exception=False
        )
    try:
        return load_photo(photo)
    except InputError as exc:
        raise gr.Error(str(exc), title="This photo cannot be used", print_exception=False) from None


def _app_limits():
    """:class:`humansplat.api.OptionLimits` of the app (the module's MIN/MAX constants)."""
    from humansplat.api import OptionLimits

    return OptionLimits(frames=(MIN_FRAMES, MAX_FRAMES), resolution=(min(RESOLUTIONS), max(RESOLUTIONS)), seed=(0, MAX_SEED))


def _check_options(mode: str, frames: float, seed: float, resolution: float) -> tuple[str, int, int, int]:
    """Validate the options (API callers can send anything) with the pipeline's one check
    -> (mode, frames, seed, resolution); a ``gr.Error`` quoting the bad value otherwise."""
    from humansplat.errors import InputError, WeightsUnavailableError
    from humansplat.api import check_options

    try:
        opts = check_options(mode, frames, resolution, seed, limits=_app_limits())
    except (InputError, WeightsUnavailableError) as exc:
        raise gr.Error(str(exc), title="Options", print_exception=False) from None
    if opts.resolution not in RESOLUTIONS:
        raise gr.Error(
            f"Resolution {opts.resolution} is not offered; use one of {', '.join(map(str, RESOLUTIONS))}.",
            print_exception=False,
        )
    return mode, opts.frames, opts.seed, opts.resolution


def _time_limit_message(exc, what: str, fewer: str) -> str:
    """The message people see for a :class:`humansplat.errors.TimeLimitError`."""
    return (
        f"The {what} took longer than {exc.limit_s:.0f} s and was stopped (stopped during {exc.stage}). "
        f"Try fewer {fewer} or a lower resolution, or try again when the app is less busy."
    )


@contextlib.contextmanager
def _errors_for_people(what: str, fewer: str) -> Iterator[None]:
    """The library's errors inside the block -> ``gr.Error`` messages for people (``what``: "reconstruction",
    "animation"; ``fewer``: what to ask for fewer of past the time limit); any other exception is a bug:
    said plainly, its traceback kept in the server log."""
    from humansplat.errors import InputError, TimeLimitError, WeightsUnavailableError

    try:
        yield
    except TimeLimitError as exc:  # raised inside the stage that ran past the limit
        raise gr.Error(_time_limit_message(exc, what, fewer), title="Time limit", print_exception=False) from None
    except (InputError, WeightsUnavailableError) as exc:
        raise gr.Error(str(exc), title=f"{what.capitalize()} not possible", print_exception=False) from None
    except gr.Error:
        raise
    except Exception as exc:
        log.exception("%s failed", what)
        raise gr.Error(
            f"The {what} failed ({type(exc).__name__}: {exc}). This is a bug; please report it with the photo."
        ) from None


# ----------------------------------------------------------------------------------- work
def _gpu(duration: Any):
    """``spaces.GPU(duration=duration)`` on ZeroGPU Spaces (``duration``: seconds, or a callable taking
    the decorated function's arguments), the identity elsewhere."""
    if not ZERO_GPU:
        return lambda fn: fn
    return spaces.GPU(duration=duration)


def _gpu_request_seconds(request) -> int:
    """ZeroGPU's duration of :func:`_gpu_networks` (the same arguments): :func:`humansplat.gpu_stage.gpu_seconds`."""
    from humansplat.gpu_stage import gpu_seconds

    return gpu_seconds(request)


@_gpu(_gpu_request_seconds)
def _gpu_networks(request) -> Iterator[Any]:
    """The one function that runs on ZeroGPU's GPU: :func:`humansplat.gpu_stage.run_networks` of a
    :class:`~humansplat.gpu_stage.NetworkRequest` (the models are already placed: :func:`place_models`).

    Yields its updates; an exception is yielded as a value, not raised (ZeroGPU turns exceptions other
    than ``gr.Error`` into a bare "worker error"), and :func:`_network_runner` raises it again.
    """
    from humansplat.errors import InputError, TimeLimitError, WeightsUnavailableError
    from humansplat.gpu_stage import run_networks

    try:
        yield from run_networks(request)
    except Exception as exc:  # noqa: BLE001 - handed over whole, raised again outside
        if not isinstance(exc, (gr.Error, InputError, TimeLimitError, WeightsUnavailableError)):
            log.exception("the GPU call failed")  # a bug: its traceback stays in this process's log
        yield exc


REFUSALS = {  # a ZeroGPU error's title -> what the visitor is told (the avatar is then made in prior mode)
    "ZeroGPU quota exceeded": "The free GPU time for today is used up, so this avatar was made without the view "
    "synthesizer; sign in for more, or try again later.",
    "ZeroGPU pending credits exceeded": "Too many GPU runs of this account are still going, so this avatar was "
    "made without the view synthesizer; try again when they have finished.",
    "ZeroGPU queue timeout": "No GPU was free in time, so this avatar was made without the view synthesizer; "
    "try again in a few minutes.",
    "ZeroGPU illegal duration": "This request needs more GPU time than the Space may ask for, so this avatar was "
    "made without the view synthesizer.",
    "ZeroGPU worker error": "The GPU run was stopped before it finished, so this avatar was made without the view "
    "synthesizer; try again when the Space is less busy.",
}
NO_GPU_FREE = "No GPU was available"  # ZeroGPU's message when the queue gave up (under the quota title)


def _refusal_sentence(exc: Exception) -> str | None:
    """The sentence for a ZeroGPU refusal (``gr.Error`` titled ``ZeroGPU ...``), None for any other error."""
    title = str(getattr(exc, "title", "") or "")
    if not (ZERO_GPU and isinstance(exc, gr.Error) and title.startswith("ZeroGPU")):
        return None
    if NO_GPU_FREE in str(getattr(exc, "message", exc)):
        return REFUSALS["ZeroGPU queue timeout"]
    return REFUSALS.get(title, REFUSALS["ZeroGPU worker error"])


def _network_runner(request) -> Iterator[Any]:
    """The library's ``network_runner``: :func:`_gpu_networks`, its yielded exceptions raised again, a
    ZeroGPU refusal turned into :class:`humansplat.errors.GpuUnavailableError` (the run then ends in
    prior mode) and shown to the visitor."""
    from humansplat.errors import GpuUnavailableError

    try:
        for item in _gpu_networks(request):
            if isinstance(item, BaseException):
                raise item
            yield item
    except gr.Error as exc:
        sentence = _refusal_sentence(exc)
        if sentence is None:
            raise
        log.info("GPU call refused (%s: %s); prior mode instead", getattr(exc, "title", ""), exc)
        gr.Warning(sentence)
        raise GpuUnavailableError(sentence) from None


def _run_devices() -> dict[str, str]:
    """``iter_reconstruct``'s devices: on ZeroGPU the CPU renders and the networks run on
    :data:`NETWORK_DEVICE` inside the GPU call; elsewhere the library's default (CUDA when here)."""
    return {"device": "cpu", "network_device": NETWORK_DEVICE} if ZERO_GPU else {}


def place_models() -> list[str]:
    """Load the networks whose weights are here and put them on the GPU, at start-up, as ZeroGPU asks
    (models moved to ``cuda`` outside the decorated function; each call finds them placed). Only on a
    ZeroGPU Space or a Space with a CUDA GPU; does nothing without the weights; never raises (a
    failure is logged and leaves them to load on first use). Returns the names of what was placed."""
    from humansplat.api import network_status
    from humansplat.gpu_stage import preload
    from humansplat.views_mode import synthesizer_status

    if not (ZERO_GPU or (os.environ.get("SPACE_ID") and _gpu_here())):
        return []
    modes = tuple(m for m, ok in (("views", synthesizer_status()[0]), ("full", network_status()[0])) if ok)
    try:
        placed = preload(modes, NETWORK_DEVICE if ZERO_GPU else "cuda")
    except Exception:  # noqa: BLE001 - the page still runs; the first request loads them
        log.exception("placing the networks at start-up failed")
        return []
    log.info("networks placed at start-up: %s", ", ".join(placed) or "none")
    return placed


def _save_png(image, path: Path) -> str:
    """(H, W, 3) uint8 -> PNG file; returns the path as str."""
    from PIL import Image

    Image.fromarray(image).save(path)
    return str(path)


def _person_overlay(crop) -> Any:
    """The person mask beside the landmarks, one (S, 2S, 3) uint8 image."""
    import numpy as np

    from humansplat.prior.overlay import draw_landmarks, draw_mask

    return np.concatenate([draw_mask(crop), draw_landmarks(crop)], axis=1)


def _summary_markdown(result, run_s: float, notice: str | None = None) -> str:
    """The visible summary: mode headline, Result.summary(), input-view fidelity, notes."""
    headline = {
        "prior": "**Prior mode**: Gaussians built from the fitted body and the photo (no trained network weights).",
        "views": "**Views mode**: the human SV3D synthesizer generated orbit views; the Gaussians were fitted to "
        "them and the photo (no trained reconstructor).",
        "full": "**Full mode**: multi-view synthesizer + latent reconstruction transformer (trained weights).",
    }.get(result.mode, f"**Mode: {result.mode}**")
    q = result.quality
    fidelity = (
        f"Input-view fidelity (the photo's own view only; unseen sides are not measured): PSNR "
        f"{q['input_view_psnr_db']:.1f} dB, alpha IoU {q['input_view_alpha_iou']:.3f}"
        if "input_view_psnr_db" in q and "input_view_alpha_iou" in q
        else ""
    )
    crop_notes = result.body_fit.crop.notes if result.body_fit.crop is not None else []
    notes = "\n".join(f"- {n}" for n in dict.fromkeys([*crop_notes, *result.notes, *([notice] if notice else [])]))
    return f"{headline}\n\n`{result.summary()}` (request {run_s:.1f}s)\n\n{fidelity}\n\n{notes}".strip()


def _centred(result):
    """The avatar moved so the fitted body's centre is at the origin, which the 3D viewer orbits.

    The downloadable .ply keeps the library's world frame (the input camera at the origin, OpenCV axes,
    y down), which is also the viewer's convention; only the translation differs.
    """
    from dataclasses import replace

    from humansplat.api import orbit_framing

    centre, _, _ = orbit_framing(result.gaussians, result.body_fit)
    return replace(result.gaussians, means=result.gaussians.means - centre.to(result.gaussians.means))


def _write_result(result, run_dir: Path) -> dict[str, Any]:
    """The final files of a reconstruction: every file of ``Result.save`` (the CLI's names; all offered
    under ``files``), and the Gaussians centred on the body for the 3D viewer (``viewer.ply``)."""
    from humansplat.io.ply import save_ply

    paths = result.save(run_dir)
    files: dict[str, Any] = {key: str(paths[key]) for key in ("ply", "glb", "video", "views") if key in paths}
    files["files"] = [str(path) for path in paths.values()]
    files["model3d"] = str(save_ply(_centred(result), run_dir / "viewer.ply"))
    return files


def _run_stages(
    photo, mode: str, frames: int, seed: int, resolution: int, run_dir: Path, deadline=None,
    notice: str | None = None,
) -> Iterator[tuple[str, float, dict]]:
    """Run the pipeline stage by stage, writing each artefact into ``run_dir`` as soon as it exists.

    Yields ``(stage, fraction, files)`` with ``files`` the new outputs: ``person``, ``body``, ``views``
    (PNG paths), ``body_json`` (the body's summary dict), and at the end ``ply``, ``glb``, ``video``,
    ``model3d`` paths, ``files`` (every file's path) and the ``summary`` Markdown.
    Runs on the CPU; only the networks go to the GPU (:func:`_network_runner`).
    ``deadline`` (:class:`humansplat.errors.Deadline`) is checked inside the long stages.
    """
    from humansplat.api import iter_reconstruct
    from humansplat.prior.overlay import draw_body_parts
    from humansplat.result import views_strip

    start = time.perf_counter()
    shown: set[str] = set()
    for update in iter_reconstruct(
        photo, mode=mode, frames=frames, resolution=resolution, seed=seed, deadline=deadline,
        network_runner=_network_runner, **_run_devices(),
    ):
        files: dict[str, str] = {}
        if update.crop is not None and "person" not in shown:
            files["person"] = _save_png(_person_overlay(update.crop), run_dir / "person.png")
        if update.body_fit is not None and "body" not in shown:
            files["body"] = _save_png(draw_body_parts(update.body_fit), run_dir / "body.png")
            files["body_json"] = update.body_fit.to_dict(include_mesh=False)
        if update.views is not None and "views" not in shown:
            files["views"] = _save_png(views_strip(update.views), run_dir / "views.png")
        if update.result is not None:
            yield "writing", 1.0, files
            files = _write_result(update.result, run_dir)
            files["summary"] = _summary_markdown(update.result, time.perf_counter() - start, notice)
        shown.update(files)
        yield update.stage, float(update.fraction), files


# Output order of /reconstruct (the API returns them in this order).
RECONSTRUCT_OUTPUTS = ("ply", "glb", "video", "views", "summary", "person", "body", "model3d", "files", "body_json")


def reconstruct_photo(
    photo: str | bytes | None,
    mode: str = "auto",
    frames: float = DEFAULT_FRAMES,
    seed: float = 0,
    resolution: float = DEFAULT_RESOLUTION,
    request: gr.Request | None = None,
    progress: gr.Progress = gr.Progress(),  # noqa: B008 (Gradio injects the progress tracker by this default)
) -> Iterator[tuple]:
    """Reconstruct a person from one photo as 3D Gaussians, streaming each stage's output as it is ready.

    Args:
        photo: a photo of one person (JPEG, PNG, WebP, ...; up to the app's upload limit).
        mode: "auto" (on a GPU: full with trained weights, views with the synthesizer's weights; else prior),
            "prior" (fitted body + photo, no network weights), "views" (SV3D's generated views + a Gaussian
            fit; an error without its weights) or "full" (network; an error when its weights are not available).
        frames: number of frames of the 360 degree turntable video (8-72).
        seed: random seed of the generative stages (views and full modes; 0 to 2**31-1); same seed, same result.
        resolution: side in pixels of the views and the video (256, 384 or 512).

    Returns:
        - ply: the 3D Gaussians (.ply, standard 3D Gaussian Splatting layout).
        - glb: a coloured mesh of the avatar (.glb, binary glTF).
        - video: the turntable video (.mp4, H.264).
        - views: the front, left, back and right views side by side (PNG; in views mode the synthesizer's
          generated views, streamed as soon as they are decoded, before the fit).
        - summary: mode, weights, number of Gaussians, per-stage seconds and notes (Markdown).
        - person: the person mask beside the detected landmarks (PNG).
        - body: the fitted body's parts drawn over the photo (PNG).
        - model3d: the Gaussians centred on the body (.ply), for the 3D viewer.
        - files: every file of the result, as the CLI writes them: gaussians.ply, gaussians.splat,
          mesh.glb, turntable.mp4, views.png, body.json, report.json.
        - body_json: the fitted body (schema humansplat.body/1) without its mesh arrays (in body.json).
    """
    from humansplat.errors import Deadline

    mode, frames_i, seed_i, res_i = _check_options(mode, frames, seed, resolution)
    progress(0.0, desc=NEXT_STAGE["start"])
    loaded = _load_photo(photo)
    notice = _SESSIONS.take_notice(request)
    if notice:
        gr.Warning(notice)
    run_dir = _SESSIONS.new_run(request)
    deadline = Deadline.after(TIME_LIMIT_S) if TIME_LIMIT_S > 0 else None
    outputs: dict[str, Any] = {}
    yield tuple(None for _ in RECONSTRUCT_OUTPUTS)  # clear the previous run's outputs
    stages = _run_stages(loaded, mode, frames_i, seed_i, res_i, run_dir, deadline, notice)
    finished = False
    try:
        with _errors_for_people("reconstruction", "turntable frames"):
            for stage, fraction, files in stages:
                progress(fraction, desc=NEXT_STAGE.get(stage, stage))
                outputs.update(files)
                if stage == "done":
                    break
                if files:  # everything ready so far (API clients see whole tuples, the page keeps what it has)
                    yield tuple(outputs.get(k) for k in RECONSTRUCT_OUTPUTS)
            finished = "summary" in outputs
    finally:
        stages.close()
        if not finished:  # stopped, failed or cancelled: nothing in the folder will be shown
            shutil.rmtree(run_dir, ignore_errors=True)
        _SESSIONS.finish(run_dir)
    yield tuple(outputs.get(k) for k in RECONSTRUCT_OUTPUTS)


def _fit(photo):
    from humansplat.prior.fit import fit_body
    from humansplat.prior.person import detect_person

    return fit_body(detect_person(photo))


def fit_body_photo(photo: str | bytes | None, request: gr.Request | None = None) -> tuple[str, dict, list[str]]:
    """Fit the 3D body model (the structure prior) to the person in a photo; no Gaussians are built.

    Args:
        photo: a photo of one person (JPEG, PNG, WebP, ...).

    Returns:
        - overlay: the fitted body's semantic parts drawn over the person crop (PNG).
        - body: the fit as JSON, schema humansplat.body/1 without the mesh arrays: backend, pose, shape,
          params, joints (metres, camera frame), camera, crop (people_found, cut_off, notes), errors.
        - files: [body.json], the same body with its mesh (vertices, faces, parts).
    """
    from humansplat.errors import InputError
    from humansplat.prior.overlay import draw_body_parts

    loaded = _load_photo(photo)
    try:
        fit = _fit(loaded)
    except InputError as exc:
        raise gr.Error(str(exc), title="This photo cannot be used", print_exception=False) from None
    except Exception as exc:  # a bug: say so plainly, keep the traceback in the server log
        log.exception("body fit failed")
        raise gr.Error(
            f"The body fit failed ({type(exc).__name__}: {exc}). This is a bug; please report it with the photo."
        ) from None
    fit.crop.notes = list(dict.fromkeys([*loaded.notes, *fit.crop.notes]))  # the photo's notes travel too
    notice = _SESSIONS.take_notice(request)
    if notice:
        gr.Warning(notice)
    run_dir = _SESSIONS.new_run(request)
    try:
        overlay = _save_png(draw_body_parts(fit), run_dir / "body.png")
        body_file = str(fit.write_json(run_dir / "body.json"))
    finally:
        _SESSIONS.finish(run_dir)
    return overlay, fit.to_dict(include_mesh=False), [body_file]


# ----------------------------------------------------------------------------------- animate
# Output order of /animate (the API returns them in this order) and of the page's Animate step.
ANIMATE_OUTPUTS = ("video", "glb", "ply", "sidecar", "summary")
ANIMATE_UI_OUTPUTS = (*ANIMATE_OUTPUTS, "model3d")
_RECONSTRUCTION_FILES = ("ply", "body", "report")  # what Animate reads from a finished reconstruction


def _check_motion(motion: Any) -> str:
    """A built-in motion name, or a ``gr.Error`` listing them."""
    from humansplat.animate import motion_names

    if motion not in motion_names():
        raise gr.Error(
            f"Unknown motion {motion!r}; choose one of {', '.join(motion_names())}.",
            title="Options",
            print_exception=False,
        )
    return str(motion)


def _check_animation_frames(frames: Any) -> int | None:
    """/animate's frame count: 0 -> None (one cycle of the motion), else a whole number in the app's range."""
    try:
        value = float(frames)
    except (TypeError, ValueError):
        value = float("nan")
    if value == 0:
        return None
    if not (value.is_integer() and MIN_ANIMATION_FRAMES <= value <= MAX_ANIMATION_FRAMES):
        raise gr.Error(
            f"Animation frames {frames!r} cannot be used: give 0 (one cycle of the motion at {ANIMATION_FPS} fps) "
            f"or a whole number from {MIN_ANIMATION_FRAMES} to {MAX_ANIMATION_FRAMES}.",
            title="Options",
            print_exception=False,
        )
    return int(value)


def _load_result(run_dir: Path):
    """The :class:`humansplat.result.Result` of a finished reconstruction folder, as far as animation needs
    it: Gaussians (``gaussians.ply``, world frame), body fit (``body.json``), mode and weights
    (``report.json``); no views, no turntable."""
    import json

    import numpy as np

    from humansplat.cameras import Cameras
    from humansplat.io.ply import load_ply
    from humansplat.prior.body_fit import BodyFit
    from humansplat.result import RESULT_FILES, Result

    report = json.loads((run_dir / RESULT_FILES["report"]).read_text(encoding="utf-8"))
    fit = BodyFit.from_dict(json.loads((run_dir / RESULT_FILES["body"]).read_text(encoding="utf-8")))
    empty = np.zeros((0, 1, 1, 3), np.uint8)
    return Result(
        load_ply(run_dir / RESULT_FILES["ply"]), fit, empty, Cameras.from_fov(45.0, 1, 1), empty,
        report["mode"], weights=dict(report.get("weights", {})),
    )


def _animation_markdown(
    result, motion: str, frames: int | None, resolution: int, run_s: float, binding_notes: list[str] | None = None
) -> str:
    """The visible summary of an animation: motion, frames, the reconstruction's mode and weights, what
    the binding had to guess (``binding_notes``), seconds."""
    from humansplat.animate import get_motion, motion_names

    clips = [motion, *(m for m in motion_names() if m != motion)]  # as animate_result writes them
    count = frames if frames is not None else max(1, round(get_motion(motion).duration_s * ANIMATION_FPS))
    weights = ", ".join(f"{k}={v}" for k, v in result.weights.items()) or "no network weights"
    steps = ", ".join(
        f"{k.removeprefix('animate_')} {result.timings[k]:.1f}s"
        for k in ("animate_bind", "animate_video", "animate_glb")
        if k in result.timings
    )
    return (
        f"**Animated: {motion}**, {count} frames at {ANIMATION_FPS} fps, {resolution} px, the camera turning once.\n\n"
        f"Avatar: mode **{result.mode}** | weights: {weights} | {len(result.gaussians):,} Gaussians. "
        f"`avatar_rigged.glb` holds every motion as a clip: {', '.join(clips)}.\n\n"
        + "".join(f"- {note}\n" for note in binding_notes or [])
        + ("\n" if binding_notes else "")
        + f"`{steps}` (request {run_s:.1f}s)"
    )


def _animate_stages(
    source: Any, motion: str, frames: int | None, resolution: int, run_dir: Path, deadline=None, report=None
) -> Iterator[tuple[float, str, dict]]:
    """Animate an avatar into ``run_dir``: ``source`` is a finished reconstruction folder (a ``Path``) or a
    :class:`humansplat.io.images.Photo` (reconstructed first: mode "auto", no turntable).

    Yields ``(fraction, stage, files)``; the last ``files`` holds ``video``, ``glb``, ``ply``, ``sidecar``
    (paths, :func:`humansplat.animate.animate_result`'s) and the ``summary`` Markdown. ``deadline`` is
    checked inside the reconstruction's long stages and between the animation's steps (bind, video,
    glb, ply); ``report(fraction, stage)`` (optional) hears the animation's steps. CPU work; a
    reconstruction's networks go to the GPU (:func:`_network_runner`).
    """
    from humansplat.animate import animate_result
    from humansplat.errors import check_deadline

    start = time.perf_counter()
    if isinstance(source, Path):
        yield 0.0, "Loading the last reconstruction", {}
        result, base = _load_result(source), 0.05
    else:
        from humansplat.api import iter_reconstruct

        result, base = None, 0.5
        for update in iter_reconstruct(
            source, mode="auto", frames=0, resolution=resolution, deadline=deadline,
            network_runner=_network_runner, **_run_devices(),
        ):
            yield 0.5 * float(update.fraction), NEXT_STAGE.get(update.stage, update.stage), {}
            result = update.result or result
    yield base, "Binding the Gaussians to the skeleton", {}

    def step(fraction: float, stage: str) -> None:
        check_deadline(deadline, stage)
        if report is not None:
            report(base + (1.0 - base) * fraction, stage)

    notes_before = list(result.notes)
    paths = animate_result(
        result, motion, run_dir, frames=frames, resolution=resolution, fps=ANIMATION_FPS, progress=step
    )
    files: dict[str, Any] = {key: str(path) for key, path in paths.items()}
    binding_notes = [n for n in result.notes if n not in notes_before]
    files["summary"] = _animation_markdown(
        result, motion, frames, resolution, time.perf_counter() - start, binding_notes
    )
    yield 1.0, "Done", files


def _animate(
    source: Any, motion: str, frames: int | None, resolution: int, request: gr.Request | None, progress: gr.Progress
) -> dict[str, Any]:
    """Run :func:`_animate_stages` into a new run folder of the session, with the app's time limit and
    errors for people; returns its files (deleted again when it fails)."""
    from humansplat.errors import Deadline

    notice = _SESSIONS.take_notice(request)
    if notice:
        gr.Warning(notice)
    run_dir = _SESSIONS.new_run(request)
    deadline = Deadline.after(TIME_LIMIT_S) if TIME_LIMIT_S > 0 else None

    def report(fraction: float, stage: str) -> None:
        progress(fraction, desc=stage)

    files: dict[str, Any] = {}
    stages = _animate_stages(source, motion, frames, resolution, run_dir, deadline, report)
    try:
        with _errors_for_people("animation", "animation frames"):
            for fraction, stage, new in stages:
                progress(fraction, desc=stage)
                files.update(new)
    finally:
        stages.close()
        if "summary" not in files:  # stopped, failed or cancelled: nothing in the folder will be shown
            shutil.rmtree(run_dir, ignore_errors=True)
        _SESSIONS.finish(run_dir)
    return files


def animate_photo(
    photo: str | bytes | None,
    motion: str = DEFAULT_MOTION,
    frames: float = 0,
    resolution: float = 384,
    request: gr.Request | None = None,
    progress: gr.Progress = gr.Progress(),  # noqa: B008 (Gradio injects the progress tracker by this default)
) -> tuple:
    """Reconstruct a person from one photo (as /reconstruct with mode "auto") and animate the avatar.

    Args:
        photo: a photo of one person (JPEG, PNG, WebP, ...).
        motion: a built-in motion: "a_pose", "t_pose", "walk", "wave" or "turn".
        frames: frames of the animation video: 0 = one cycle of the motion at 24 fps, else 8-96.
        resolution: side in pixels of the video (256, 384 or 512).

    Returns:
        - video: the avatar playing the motion while the camera turns once (.mp4, H.264, 24 fps).
        - glb: the rigged avatar (.glb): coloured mesh, the body model's skeleton, skin weights, every
          built-in motion as an animation clip (the requested one first).
        - ply: the Gaussians in the bind pose (.ply, standard 3D Gaussian Splatting layout).
        - sidecar: their binding (.rig.npz: weights, bones, bone names, parents, bind poses).
        - summary: motion, frames, mode, weights, per-step seconds (Markdown).
    """
    motion = _check_motion(motion)
    frames_i = _check_animation_frames(frames)
    _, _, _, res_i = _check_options("auto", MIN_FRAMES, 0, resolution)
    progress(0.0, desc=NEXT_STAGE["start"])
    files = _animate(_load_photo(photo), motion, frames_i, res_i, request, progress)
    return tuple(files.get(k) for k in ANIMATE_OUTPUTS)


def animate_last(
    motion: str = DEFAULT_MOTION,
    resolution: float = 384,
    request: gr.Request | None = None,
    progress: gr.Progress = gr.Progress(),  # noqa: B008 (Gradio injects the progress tracker by this default)
) -> tuple:
    """The page's Animate step: animate the session's last reconstruction (one cycle of ``motion``).

    Returns (:data:`ANIMATE_UI_OUTPUTS`): :func:`animate_photo`'s outputs and the rigged .glb again
    for the 3D viewer.
    """
    from humansplat.result import RESULT_FILES

    motion = _check_motion(motion)
    _, _, _, res_i = _check_options("auto", MIN_FRAMES, 0, resolution)
    source = _SESSIONS.reuse(request, tuple(RESULT_FILES[k] for k in _RECONSTRUCTION_FILES))
    if source is None:
        raise gr.Error(
            "Reconstruct a photo first: Animate moves the last avatar reconstructed on this page "
            "(if you reconstructed one a while ago, its files may have been deleted to keep the app's disk bounded).",
            title="Nothing to animate",
            print_exception=False,
        )
    try:
        files = _animate(source, motion, None, res_i, request, progress)
    finally:
        _SESSIONS.finish(source)
    files["model3d"] = files["glb"]
    return tuple(files.get(k) for k in ANIMATE_UI_OUTPUTS)


def _cleared(count: int) -> tuple:
    """``count`` empty outputs (the previous result's files leave the page)."""
    return tuple(None for _ in range(count))


# ----------------------------------------------------------------------------------- layout
def _examples(cache: Path) -> list[str]:
    """Example photos: the project's own synthetic people (assets/examples) and scikit-image's astronaut
    (public domain, written from the installed package into the app's cache folder)."""
    examples = sorted(str(p) for p in EXAMPLES_DIR.glob("*.png"))
    astronaut = cache / "astronaut.png"
    if not astronaut.exists():
        from skimage.data import astronaut as load_astronaut

        cache.mkdir(parents=True, exist_ok=True)
        _save_png(load_astronaut(), astronaut)
    return examples + [str(astronaut)]


def _gpu_here() -> bool:
    """Whether networks would run on a CUDA GPU here (on ZeroGPU the GPU is attached per call, inside
    ``spaces.GPU``; ``spaces.config.Config.zero_gpu`` says whether this Space has ZeroGPU hardware)."""
    import torch

    return torch.cuda.is_available() or ZERO_GPU


def _mode_plan(network: tuple[bool, str], synthesizer: tuple[bool, str], gpu: bool) -> tuple[str, list[str], str]:
    """(what ``auto`` runs here, the modes offered, the banner Markdown) from ``api.network_status()``,
    ``views_mode.synthesizer_status()`` and whether a CUDA GPU is here (the rule of ``choose_mode``)."""
    from humansplat.views_mode import choose_mode

    (net_ok, net_msg), (synth_ok, synth_msg) = network, synthesizer
    auto, reasons = choose_mode({"synthesizer": synth_ok, "reconstructor": net_ok}, "cuda" if gpu else "cpu")
    offered = ["auto", "prior"] + (["views"] if synth_ok else []) + (["full"] if synth_ok and net_ok else [])
    what = {
        "full": "the **full** model (synthesizer + trained reconstructor)",
        "views": "**views mode** (the human SV3D synthesizer's views, Gaussians fitted to them)",
        "prior": "**prior mode** (Gaussians from the fitted body and the photo; no network weights)",
    }[auto]
    why = "".join(f"<li>{r}</li>" for r in reasons)
    slow = " `views` is offered but runs on the CPU here (minutes per SV3D step)." if synth_ok and not gpu else ""
    banner = (
        f"`auto` runs {what} here.{slow}\n"
        f"<details><summary>Why</summary><ul>{why}<li>full mode: {net_msg}</li><li>views mode: {synth_msg}</li>"
        "</ul></details>"
    )
    return auto, [m for m in MODES if m in offered], banner


def _video_and_viewer(video_label: str, video_id: str, viewer_label: str, viewer_id: str) -> tuple:
    """A row of a looping video and a 3D viewer (white background) of the same height."""
    with gr.Row():
        video = gr.Video(
            label=video_label, autoplay=True, loop=True, interactive=False, height=VIEWER_HEIGHT, elem_id=video_id
        )
        viewer = gr.Model3D(label=viewer_label, clear_color=(1, 1, 1, 1), height=VIEWER_HEIGHT, elem_id=viewer_id)
    return video, viewer


def build_demo() -> gr.Blocks:
    """The app's Blocks (not launched, models not loaded). ``serve()`` launches it with the app's limits."""
    from humansplat.animate import motion_names
    from humansplat.api import network_status
    from humansplat.views_mode import synthesizer_status

    cache = Path(gr.utils.get_upload_folder())  # read now: GRADIO_TEMP_DIR may have changed since import
    auto_runs, modes, banner = _mode_plan(network_status(), synthesizer_status(), _gpu_here())
    available = len(modes) > 2  # views or full can run: mode and seed matter

    ttl = max(1, int(_SESSIONS.ttl_s))  # Gradio deletes its cached files at the sessions' age limit too
    with gr.Blocks(title="HumanSplat", delete_cache=(min(600, ttl), ttl)) as demo:
        gr.Markdown(HEADER)
        gr.Markdown(banner, elem_id="mode-banner")
        with gr.Row():
            with gr.Column(scale=1):
                photo = photo_input(
                    label="Photo of a person", sources=["upload", "webcam", "clipboard"], height=420, elem_id="photo"
                )
                with gr.Accordion("Options", open=False):
                    # Without synthesizer weights only prior mode runs, and it is deterministic: mode and seed
                    # would change nothing, so they are shown disabled with the reason.
                    mode = gr.Radio(
                        modes,
                        value="auto",
                        label="Mode",
                        interactive=available,
                        info=f"auto runs {auto_runs} mode here (see the line above)"
                        if available
                        else "Only prior mode can run here (no synthesizer weights; see the line above).",
                    )
                    frames = gr.Slider(MIN_FRAMES, MAX_FRAMES, value=DEFAULT_FRAMES, step=1, label="Turntable frames")
                    resolution = gr.Radio(list(RESOLUTIONS), value=DEFAULT_RESOLUTION, label="Resolution (pixels)")
                    seed = gr.Number(
                        value=0,
                        precision=0,
                        minimum=0,
                        maximum=MAX_SEED,
                        label="Seed",
                        interactive=available,
                        info="Seeds the synthesizer's sampling and the fit (views and full modes): same seed, same result."
                        if available
                        else "Used by views and full modes only; prior mode is deterministic, so the seed changes "
                        "nothing here.",
                    )
                with gr.Row():
                    run = gr.Button("Reconstruct", variant="primary", elem_id="run")
                    fit = gr.Button("Fit body only", elem_id="fit")
                gr.Examples(_examples(cache / EXAMPLES_CACHE), inputs=[photo], label="Examples")
            with gr.Column(scale=2):
                summary = gr.Markdown("Results appear here stage by stage.", label="Summary", elem_id="summary")
                with gr.Row():
                    person = gr.Image(label="Person: mask and landmarks", type="filepath", interactive=False)
                    body = gr.Image(label="Fitted body over the photo", type="filepath", interactive=False)
                views = gr.Image(
                    label="Views: front, left, back, right (views mode: the synthesizer's, shown as soon as generated)",
                    type="filepath",
                    interactive=False,
                    elem_id="views",
                )
                video, model3d = _video_and_viewer("Turntable", "turntable", "3D Gaussians (drag to turn)", "viewer")
                with gr.Row():
                    ply = gr.File(label="Gaussians (.ply)", interactive=False, height=90)
                    glb = gr.File(label="Mesh (.glb)", interactive=False, height=90)
                files = gr.File(
                    label="All files: .ply, .splat, .glb, .mp4, views.png, body.json, report.json",
                    file_count="multiple",
                    interactive=False,
                    elem_id="files",
                )
                with gr.Accordion("Fitted body (JSON)", open=False):
                    body_json = gr.JSON(
                        label="Body (schema humansplat.body/1; the mesh arrays are in body.json)", elem_id="body-json"
                    )
                gr.Markdown(
                    "### Animate\nMove the last reconstruction with a built-in motion (one cycle, the camera "
                    "turning once, at the resolution set for the reconstruction). The rigged `.glb` holds the "
                    "skeleton, the skin weights and every motion as a clip: the viewer plays the chosen one; "
                    "Blender, three.js and `<model-viewer>` play them all."
                )
                with gr.Row():
                    motion = gr.Dropdown(
                        list(motion_names()), value=DEFAULT_MOTION, label="Motion", elem_id="motion", scale=3
                    )
                    animate = gr.Button("Animate", variant="primary", elem_id="animate", scale=1)
                anim_video, rigged = _video_and_viewer(
                    "Animation", "animation", "Rigged avatar (.glb, plays the motion)", "rigged"
                )
                with gr.Row():
                    anim_glb = gr.File(label="Rigged avatar (avatar_rigged.glb)", interactive=False, height=90)
                    anim_ply = gr.File(label="Bound Gaussians (avatar_bound.ply)", interactive=False, height=90)
                    anim_rig = gr.File(label="Their binding (avatar_bound.rig.npz)", interactive=False, height=90)
                anim_summary = gr.Markdown("", elem_id="animation-summary")
                anim_frames = gr.Number(value=0, precision=0, visible=False, label="Animation frames")  # /animate only
                animate_api = gr.Button(visible=False)  # /animate: reconstruct a photo and animate it in one call

        components = {
            "ply": ply,
            "glb": glb,
            "video": video,
            "views": views,
            "summary": summary,
            "person": person,
            "body": body,
            "model3d": model3d,
            "files": files,
            "body_json": body_json,
        }
        run.click(
            reconstruct_photo,
            inputs=[photo, mode, frames, seed, resolution],
            outputs=[components[k] for k in RECONSTRUCT_OUTPUTS],
            api_name="reconstruct",
            concurrency_id="work",
        )
        animated = {
            "video": anim_video, "glb": anim_glb, "ply": anim_ply, "sidecar": anim_rig, "summary": anim_summary,
            "model3d": rigged,
        }
        run.click(
            lambda: _cleared(len(animated)), outputs=list(animated.values()), api_visibility="private", queue=False
        )
        animate.click(
            animate_last,
            inputs=[motion, resolution],
            outputs=[animated[k] for k in ANIMATE_UI_OUTPUTS],
            api_visibility="private",
            concurrency_id="work",
        )
        animate_api.click(
            animate_photo,
            inputs=[photo, motion, anim_frames, resolution],
            outputs=[animated[k] for k in ANIMATE_OUTPUTS],
            api_name="animate",
            concurrency_id="work",
        )
        fit_outputs = [body, body_json, files]
        stale = [c for k, c in components.items() if c not in fit_outputs]  # the previous photo's results
        stale += list(animated.values())
        fit.click(lambda: _cleared(len(stale)), outputs=stale, api_visibility="private", queue=False).then(
            fit_body_photo, inputs=[photo], outputs=fit_outputs, api_name="fit_body", concurrency_id="work"
        )
        demo.load(_SESSIONS.open, api_visibility="private")
        demo.unload(_SESSIONS.close)
    # examples Gradio copied into its cache: the disk cap must not delete them
    _SESSIONS.keep.update(f for block in demo.blocks.values() for f in getattr(block, "keep_in_cache", ()))
    return demo


def prefetch_synthesizer(setting: str | None = None) -> str | None:
    """Fetch the synthesizer's weights (``humansplat.hub.SYNTHESIZER_WEIGHTS``) into the Hugging Face cache before
    the page is built, so that ``auto`` runs views mode on a GPU Space (the mode rule only uses weights
    that are already here; it never downloads in the middle of a request).

    Args:
        setting: ``HUMANSPLAT_PREFETCH`` (default): ``"auto"`` fetches only on a Hugging Face Space
            (``SPACE_ID`` set) with a GPU (ZeroGPU or CUDA) and downloads allowed; ``"1"``/``"true"``
            always (unless ``HF_HUB_OFFLINE``); ``"0"``/``"false"`` never.

    Returns:
        One line saying what was fetched or why not (None when nothing was tried). Never raises: a
        failed download (no token for the gated image encoder, no network) leaves prior mode, and the
        page's banner says why views mode is not offered.
    """
    from humansplat.hub import SYNTHESIZER_WEIGHTS, fetch, hub_offline

    value = (setting if setting is not None else os.environ.get("HUMANSPLAT_PREFETCH", "auto")).strip().lower()
    if value in ("0", "false", "no", "off"):
        return None
    if value == "auto" and not (os.environ.get("SPACE_ID") and _gpu_here()):
        return None
    if hub_offline():
        return "synthesizer weights not prefetched: HF_HUB_OFFLINE is set"
    fetched, failed = [], []
    for name in SYNTHESIZER_WEIGHTS:
        try:
            fetch(name)
            fetched.append(name)
        except Exception as exc:  # noqa: BLE001 - any failure leaves prior mode; the message says why
            failed.append(f"{name}: {' '.join(str(exc).split())}")
    line = f"synthesizer weights prefetched: {', '.join(fetched) or 'none'}" + (
        f"; failed: {'; '.join(failed)}" if failed else ""
    )
    (log.warning if failed else log.info)(line)
    return line


def serve(demo: gr.Blocks | None = None, **launch_kwargs: Any) -> gr.Blocks:
    """Queue and launch ``demo`` (default: ``build_demo()``, after :func:`prefetch_synthesizer` and
    :func:`place_models` on a GPU Space) with the app's limits; ``launch_kwargs`` override Gradio's ``launch`` arguments (host
    and port default to GRADIO_SERVER_NAME / _PORT)."""
    if demo is None:
        prefetch_synthesizer()
        place_models()
    demo = demo or build_demo()
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE)
    settings: dict[str, Any] = {
        "max_file_size": f"{MAX_FILE_MB}mb",
        "allowed_paths": [],  # outputs live in Gradio's cache folder; nothing else is served
        "show_error": True,
        "ssr_mode": False,
        "css": CSS,
    }
    settings.update(launch_kwargs)
    demo.launch(**settings)
    return demo


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    serve()
