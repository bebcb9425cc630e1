"""Training data for the reconstruction transformer: multi-view renders of people with cameras and body.

Two sources, one sample type (:class:`MultiViewSample`):

* :class:`SyntheticPeople`: people drawn by :func:`humansplat.prior.synthetic.make_synthetic_person`
  (random shape, pose, yaw, field of view; colours drawn here per sample) rendered from several
  views. It exists to smoke-test and demonstrate training, not to reach paper quality: the "people"
  are the naked body model painted per part, without clothes, hair or texture.
* :class:`FolderDataset`: folders of renders of scans (THuman2.0 / 2K2K / Twindom style) with a
  ``cameras.json`` in our convention; the layout is described in its docstring.
  :func:`save_sample` writes any sample in that layout.

Views (as :class:`~humansplat.network.pipeline_humansplat.HumanSplatPipeline` feeds the
reconstructor at inference): view 0 is the **input view** (the photo's camera; world = its frame,
OpenCV axes, see :mod:`humansplat.cameras`); the **context** views the reconstructor sees are the
input view followed by views on an orbit at elevation 0 around the body's centre at
``context_azimuths`` (default 0/90/180/270 deg, the frames SV3D's human fine-tune generates, made
with :func:`~humansplat.network.pipeline_humansplat.body_orbit_cameras`); further
``extra_views`` orbit views at random multiples of 10 deg (the fine-tune's 36-view orbit) are only
supervised. Every view is supervised.

Shapes: V views, H x W pixels, P parts, M body vertices, F triangles.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..cameras import Cameras, invert_rigid
from ..parts import PART_NAMES

__all__ = ["FolderDataset", "MultiViewSample", "SyntheticPeople", "save_sample"]

DEFAULT_CONTEXT_AZIMUTHS: tuple[float, ...] = (0.0, 90.0, 180.0, 270.0)
ORBIT_STEP_DEG = 10.0  # the human fine-tune's training orbit: 36 azimuths


@dataclass
class MultiViewSample:
    """One person seen from V views (world = the input view's camera frame, metres).

    Attributes:
        images: (V, H, W, 3) float32 colours in [0, 1] on the background ``background``.
        masks: (V, H, W) float32 person masks in [0, 1].
        cameras: the V cameras (:class:`~humansplat.cameras.Cameras`); view 0 is the input view.
        part_masks: (V, P, H, W) float32 masks of the body parts seen in each view
            (:func:`humansplat.objectives.part_masks`).
        vertices: (M, 3) float32 body vertices; faces: (F, 3) int64; parts: (M,) int64 labels into
            :data:`~humansplat.parts.PART_NAMES`.
        context: (V_ctx,) int64 indices of the views the reconstructor sees, the input view (0) first;
            an index may repeat (the input frame also stands for SV3D's frame at azimuth 0).
        azimuths_deg: (V,) float32 orbit azimuth of each view (0 for the input view).
        background: background colour of ``images`` (grey level in [0, 1]).
        name: where the sample comes from (``synthetic/seed=...`` or the subject folder).
    """

    images: torch.Tensor
    masks: torch.Tensor
    cameras: Cameras
    part_masks: torch.Tensor
    vertices: torch.Tensor
    faces: torch.Tensor
    parts: torch.Tensor
    context: torch.Tensor
    azimuths_deg: torch.Tensor
    background: float = 1.0
    name: str = ""

    def __post_init__(self) -> None:
        V, H, W = self.images.shape[:3]
        if self.images.shape != (V, H, W, 3) or self.masks.shape != (V, H, W):
            raise ValueError(
                f"images must be (V, H, W, 3) and masks (V, H, W), got {tuple(self.images.shape)}, {tuple(self.masks.shape)}"
            )
        if len(self.cameras) != V or (self.cameras.width, self.cameras.height) != (W, H):
            raise ValueError(
                f"{len(self.cameras)} cameras of {self.cameras.width}x{self.cameras.height} for {V} images of {W}x{H}"
            )
        if self.part_masks.shape != (V, len(PART_NAMES), H, W):
            raise ValueError(
                f"part_masks must be (V, {len(PART_NAMES)}, H, W) = {(V, len(PART_NAMES), H, W)}, got {tuple(self.part_masks.shape)}"
            )
        ctx = self.context
        if ctx.ndim != 1 or len(ctx) < 1 or int(ctx[0]) != 0 or int(ctx.min()) < 0 or int(ctx.max()) >= V:
            raise ValueError(
                f"context must list view indices in [0, {V}) starting with the input view 0, got {ctx.tolist()}"
            )

    @property
    def num_views(self) -> int:
        return self.images.shape[0]

    def to(self, device: torch.device | str) -> MultiViewSample:
        """The sample's tensors on ``device``."""
        return replace(
            self,
            images=self.images.to(device),
            masks=self.masks.to(device),
            cameras=self.cameras.to(device),
            part_masks=self.part_masks.to(device),
            vertices=self.vertices.to(device),
            faces=self.faces.to(device),
            parts=self.parts.to(device),
            context=self.context.to(device),
        )


# ---------------------------------------------------------------------------------------------- synthetic
def _albedo_table(rng: np.random.Generator) -> np.ndarray:
    """(P, 3) colours of the parts for one synthetic person: hair, skin, shirt, trousers, shoes."""
    light, dark = np.array([0.93, 0.76, 0.64]), np.array([0.42, 0.28, 0.20])
    skin = light + rng.uniform() * (dark - light)
    shirt, trousers = rng.uniform(0.1, 0.9, 3), rng.uniform(0.05, 0.7, 3)
    table = {
        "head": rng.uniform(0.02, 0.6) * np.array([1.0, 0.75, 0.5]),  # hair, brownish
        "face": skin,
        "hands": skin,
        "arms": shirt if rng.uniform() < 0.5 else skin,
        "torso": shirt,
        "legs": trousers,
        "feet": np.full(3, rng.uniform(0.05, 0.3)),
    }
    return np.stack([table[name] for name in PART_NAMES])


class SyntheticPeople(Dataset):
    """``num_samples`` synthetic people (module docstring), deterministic for ``seed``, cached.

    Args:
        num_samples: people in the dataset (sample i is drawn from ``(seed, i)``).
        image_size: S, square views of S x S pixels.
        context_azimuths: orbit azimuths (degrees) of the context views after the input view.
        extra_views: supervised-only orbit views per sample, at random multiples of 10 deg.
        ambient: shading, 1 = flat albedo (see :func:`humansplat.render.mesh.render_mesh`).
        supersample: antialiasing of images and part masks (samples per pixel side).
        background: grey level of the background (white, as the paper renders).
        seed: selects the people and their colours.
    """

    body_model = "anny"  # the body model of the people (recorded in a checkpoint's provenance)

    def __init__(
        self,
        num_samples: int = 2,
        image_size: int = 64,
        context_azimuths: Sequence[float] = DEFAULT_CONTEXT_AZIMUTHS,
        extra_views: int = 2,
        ambient: float = 1.0,
        supersample: int = 2,
        background: float = 1.0,
        seed: int = 0,
    ) -> None:
        if int(num_samples) < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
        if int(image_size) < 32:
            raise ValueError(f"image_size must be at least 32 pixels, got {image_size}")
        if int(extra_views) < 0 or int(extra_views) > 36 - len(context_azimuths):
            raise ValueError(f"extra_views must be in [0, {36 - len(context_azimuths)}], got {extra_views}")
        self.num_samples = int(num_samples)
        self.image_size = int(image_size)
        self.context_azimuths = tuple(float(a) for a in context_azimuths)
        self.extra_views = int(extra_views)
        self.ambient = float(ambient)
        self.supersample = int(supersample)
        self.background = float(background)
        self.seed = int(seed)
        self._cache: dict[int, MultiViewSample] = {}

    def __len__(self) -> int:
        return self.num_samples

    def describe(self) -> str:
        """One line for training metadata."""
        return (
            f"synthetic anny people (humansplat.train.data.SyntheticPeople: {self.num_samples} samples, seed {self.seed}, "
            f"{self.image_size} px, context azimuths {list(self.context_azimuths)} + {self.extra_views} extra views)"
        )

    def __getitem__(self, index: int) -> MultiViewSample:
        if not 0 <= int(index) < self.num_samples:
            raise IndexError(f"sample {index} of a dataset of {self.num_samples}")
        index = int(index)
        if index not in self._cache:
            self._cache[index] = self._make(index)
        return self._cache[index]

    def _make(self, index: int) -> MultiViewSample:
        from ..network.pipeline_humansplat import body_orbit_cameras
        from ..prior.synthetic import make_synthetic_person
        from ..render.mesh import TexturedMesh, render_mesh

        rng = np.random.default_rng([self.seed, index])
        person = make_synthetic_person(seed=int(rng.integers(2**31)), size=self.image_size)
        fit = person.as_body_fit()
        grid = np.arange(0.0, 360.0, ORBIT_STEP_DEG)
        free = [a for a in grid if not any(abs((a - c + 180.0) % 360.0 - 180.0) < 1e-3 for c in self.context_azimuths)]
        extra = sorted(rng.choice(free, size=self.extra_views, replace=False).tolist()) if self.extra_views else []
        azimuths = list(self.context_azimuths) + extra
        S = self.image_size
        cameras = Cameras.cat([fit.camera, body_orbit_cameras(fit, azimuths, 0.0, S, S)])
        colors = _albedo_table(rng)[person.parts.numpy()]
        mesh = TexturedMesh(person.vertices, person.faces, vertex_colors=colors, parts=person.parts, name="person")
        views = render_mesh(
            mesh, cameras, supersample=self.supersample, background=self.background, ambient=self.ambient
        )
        images, masks = views.rgb, views.parts  # the parts: z-buffered, as losses.part_masks
        return MultiViewSample(
            images=images,
            masks=masks.sum(1).clamp(0.0, 1.0),
            cameras=cameras,
            part_masks=masks,
            vertices=person.vertices.float(),
            faces=person.faces.long(),
            parts=person.parts.long(),
            context=torch.arange(1 + len(self.context_azimuths)),
            azimuths_deg=torch.tensor([0.0] + azimuths, dtype=torch.float32),
            background=self.background,
            name=f"synthetic/seed={self.seed}/{index}",
        )


# ---------------------------------------------------------------------------------------------- folders
class FolderDataset(Dataset):
    """Renders of scanned people, one folder per subject, in our camera convention.

    Layout (written by ``humansplat-render-scans``, :mod:`humansplat.data.render_scans`, and by
    :func:`save_sample`; docs/data.md)::

        root/
          <subject>/                      any name; every sub-folder with a cameras.json is a subject
            cameras.json
            images/000.png ...            RGB on a white background, or RGBA (composited on white here)
            masks/000.png ...             optional 8-bit person masks (else the images' alpha)
            body.npz                      vertices (M, 3) float32 metres, faces (F, 3) int,
                                          parts (M,) int labels into humansplat.parts.PART_NAMES,
                                          optional body_model (str: "anny", "smplx"; recorded in
                                          the checkpoint's provenance, else "unknown")
            depth/, normals/, parts/      written by the renderer, not read here

    ``cameras.json``::

        {"width": 512, "height": 512,
         "frames": [{"image": "images/000.png", "mask": "masks/000.png",
                     "K": [[fx, 0, cx], [0, fy, cy], [0, 0, 1]],          # pixels, centres at +0.5
                     "viewmat": [[...], [...], [...], [0, 0, 0, 1]],      # world-to-camera, OpenCV axes
                     "azimuth_deg": 0.0}, ...],
         "input": 0,                  # the frame playing the photo (default 0)
         "inputs": [0],               # optional: several input frames, one sample each
         "context": [0, 0, 9, 18, 27]}  # optional: frames the reconstructor sees, the input first

    A frame may say ``"kind": "input"`` or ``"orbit"``; when kinds are given, the context views are
    chosen among the orbit frames only.

    The world frame of ``viewmat`` and ``vertices`` may be any (e.g. the scan's); the loader
    re-expresses everything in the input camera's frame (our world) and puts the input frame first.
    Without ``"context"``, the context is the input frame followed by the frames whose
    ``azimuth_deg`` (relative to the input view) is nearest each of ``context_azimuths``.
    Every frame is supervised. Body vertices in the paper's data come from SMPL-X fits of the
    scans; any body model whose vertices carry our part labels works. A subject without
    ``body.npz`` cannot be loaded (the reconstructor's prior tokens and the part loss need it).
    One sample per subject and input frame (``"inputs"``, else ``"input"``).

    Args:
        root: the folder of subject folders.
        image_size: resize every view to S x S (cameras follow), or None to keep the files' size.
        context_azimuths: see above.
        supersample: antialiasing of the part masks.
    """

    def __init__(
        self,
        root: str | Path,
        image_size: int | None = None,
        context_azimuths: Sequence[float] = DEFAULT_CONTEXT_AZIMUTHS,
        supersample: int = 1,
    ) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"dataset folder {self.root} does not exist")
        self.subjects = sorted(p.parent for p in self.root.glob("*/cameras.json"))
        if (self.root / "cameras.json").is_file():
            self.subjects.insert(0, self.root)
        if not self.subjects:
            raise FileNotFoundError(
                f"no <subject>/cameras.json under {self.root}; see FolderDataset's docstring for the layout"
            )
        self.items: list[tuple[Path, int]] = [(f, i) for f in self.subjects for i in _input_frames(f)]
        self.image_size = image_size
        self.context_azimuths = tuple(float(a) for a in context_azimuths)
        self.supersample = int(supersample)
        self._cache: dict[int, MultiViewSample] = {}

    def __len__(self) -> int:
        return len(self.items)

    @property
    def body_model(self) -> str:
        """The body model named by the first subject's body.npz (key ``body_model``), else ``"unknown"``."""
        with np.load(self.subjects[0] / "body.npz") as body:
            return str(body["body_model"]) if "body_model" in body.files else "unknown"

    def describe(self) -> str:
        return (
            f"folder dataset {self.root} ({len(self.subjects)} subjects, {len(self)} samples, "
            f"image size {self.image_size or 'as stored'})"
        )

    def __getitem__(self, index: int) -> MultiViewSample:
        index = int(index)
        if not 0 <= index < len(self.items):
            raise IndexError(f"sample {index} of a dataset of {len(self.items)}")
        if index not in self._cache:
            self._cache[index] = self._load(*self.items[index])
        return self._cache[index]

    def _load(self, folder: Path, first: int) -> MultiViewSample:
        from ..objectives import part_masks

        meta = json.loads((folder / "cameras.json").read_text())
        frames = meta.get("frames") or []
        if not frames:
            raise ValueError(f"{folder / 'cameras.json'} lists no frames")
        if not (folder / "body.npz").is_file():
            raise ValueError(
                f"{folder} has no body.npz: training needs a body fitted to each scan (prior tokens, part loss); "
                "put body.npz beside the scan and render again (docs/data.md)"
            )
        if not 0 <= first < len(frames):
            raise ValueError(f"{folder / 'cameras.json'}: input frame {first} is not one of the {len(frames)} frames")
        order = [first] + [i for i in range(len(frames)) if i != first]
        frames = [frames[i] for i in order]
        where = {old: new for new, old in enumerate(order)}

        viewmats = torch.tensor([f["viewmat"] for f in frames], dtype=torch.float32)
        Ks = torch.tensor([f["K"] for f in frames], dtype=torch.float32)
        to_input = viewmats[0]  # old world -> input camera frame, our world
        cameras = Cameras(viewmats @ invert_rigid(to_input), Ks, int(meta["width"]), int(meta["height"]))
        body = np.load(folder / "body.npz")
        verts = torch.as_tensor(body["vertices"], dtype=torch.float32)
        verts = verts @ to_input[:3, :3].T + to_input[:3, 3]
        images, masks = zip(*(_read_view(folder, f, meta) for f in frames))
        images_t, masks_t = torch.from_numpy(np.stack(images)), torch.from_numpy(np.stack(masks))
        if self.image_size is not None:
            S = int(self.image_size)
            images_t = _resize(images_t, S)
            masks_t = _resize(masks_t[..., None], S)[..., 0]
            cameras = cameras.resize(S, S)
        azimuths = torch.tensor([float(f.get("azimuth_deg", float("nan"))) for f in frames], dtype=torch.float32)
        if "context" in meta:
            context = [where[int(i)] for i in meta["context"]]
        else:
            if bool(torch.isnan(azimuths).any()):
                raise ValueError(f'{folder / "cameras.json"}: give "context" or an "azimuth_deg" for every frame')
            rel = azimuths - azimuths[0]
            # frames marked "input" (other input views) are not context candidates when kinds are given
            unfit = torch.tensor([f.get("kind", "orbit") != "orbit" for f in frames]) & any("kind" in f for f in frames)
            context = [0] + [
                int(torch.remainder(rel - a + 180.0, 360.0).sub(180.0).abs().masked_fill(unfit, float("inf")).argmin())
                for a in self.context_azimuths
            ]
        faces = torch.as_tensor(body["faces"], dtype=torch.long)
        parts = torch.as_tensor(body["parts"], dtype=torch.long)
        return MultiViewSample(
            images=images_t,
            masks=masks_t,
            cameras=cameras,
            part_masks=part_masks(verts, cameras, faces, parts, supersample=self.supersample),
            vertices=verts,
            faces=faces,
            parts=parts,
            context=torch.tensor(context, dtype=torch.long),
            azimuths_deg=torch.nan_to_num(azimuths - azimuths[0]),
            background=1.0,
            name=str(folder),
        )


def _input_frames(folder: Path) -> list[int]:
    """The input frame indices of a subject's cameras.json (``"inputs"``, else ``[input]``, default [0])."""
    meta = json.loads((folder / "cameras.json").read_text())
    inputs = meta.get("inputs") or [meta.get("input", 0)]
    return [int(i) for i in inputs]


def _read_view(folder: Path, frame: dict, meta: dict) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) float32 colours on white and (H, W) float32 mask of one frame."""
    from PIL import Image

    with Image.open(folder / frame["image"]) as im:
        has_alpha = "A" in im.getbands()
        img = np.asarray(im.convert("RGBA"), dtype=np.float32) / 255.0
    if (int(meta["width"]), int(meta["height"])) != (img.shape[1], img.shape[0]):
        raise ValueError(
            f"{folder / frame['image']} is {img.shape[1]}x{img.shape[0]}, cameras.json says {meta['width']}x{meta['height']}"
        )
    if frame.get("mask"):
        mask = np.asarray(Image.open(folder / frame["mask"]).convert("L"), dtype=np.float32) / 255.0
    elif has_alpha:
        mask = img[..., 3]
    else:
        raise ValueError(
            f'{folder / frame["image"]} has no alpha channel and its frame names no "mask"; give one of them'
        )
    alpha = img[..., 3:]
    rgb = img[..., :3] * alpha + (1.0 - alpha)  # RGBA on white; RGB images have alpha 1
    return rgb.astype(np.float32), mask.astype(np.float32)


def _resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """(V, H, W, ch) -> (V, size, size, ch), antialiased bilinear."""
    y = torch.nn.functional.interpolate(
        x.permute(0, 3, 1, 2), size=(size, size), mode="bilinear", antialias=True, align_corners=False
    )
    return y.permute(0, 2, 3, 1).contiguous()


def save_sample(sample: MultiViewSample, folder: str | Path) -> Path:
    """Write ``sample`` in :class:`FolderDataset`'s layout (PNG images and masks, cameras.json,
    body.npz); returns the folder."""
    from PIL import Image

    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "masks").mkdir(parents=True, exist_ok=True)
    frames = []
    for v in range(sample.num_views):
        name = f"{v:03d}.png"
        rgb = (sample.images[v].clamp(0, 1).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)
        mask = (sample.masks[v].clamp(0, 1).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)
        Image.fromarray(rgb).save(folder / "images" / name)
        Image.fromarray(mask).save(folder / "masks" / name)
        frames.append(
            {
                "image": f"images/{name}",
                "mask": f"masks/{name}",
                "K": sample.cameras.Ks[v].tolist(),
                "viewmat": sample.cameras.viewmats[v].tolist(),
                "azimuth_deg": float(sample.azimuths_deg[v]),
            }
        )
    meta = {
        "width": sample.cameras.width,
        "height": sample.cameras.height,
        "frames": frames,
        "input": 0,
        "context": sample.context.tolist(),
    }
    (folder / "cameras.json").write_text(json.dumps(meta, indent=1))
    np.savez(
        folder / "body.npz",
        vertices=sample.vertices.cpu().numpy(),
        faces=sample.faces.cpu().numpy(),
        parts=sample.parts.cpu().numpy(),
    )
    return folder
