"""The bounded Gaussian fit of views mode: prior-mode Gaussians refined on the photo and generated views.

Start: the prior-mode Gaussians (:func:`humansplat.prior_mode.build.gaussians_from_prior`).
Then a fixed, seeded number of Adam steps on

    ``L = w_in · L(input view) + w_v · mean over generated views of L(view)``,
    ``L(view) = λ_i·MSE(rgb) + λ_m·MSE(alpha, mask) + λ_h·L_hier``

(:func:`~humansplat.objectives.reconstruction_loss` and the hierarchical, part-weighted
:func:`~humansplat.objectives.hierarchical_loss`: face, hands and arms weigh 2, the rest 1, on part
masks of the fitted body z-buffered into each view). The photo weighs most (``input_weight``).

Every mean moves only along its ray from the input camera (its depth is the parameter), with its
scales relative to that depth: moved along its ray a Gaussian keeps its pixel and (to first order) its
footprint in the photo. The gradients are routed so the generated views, which are guesses, cannot
change what the photo shows:

* the Gaussians the photo sees (:func:`input_visible`) take their colour (unless it shows them as
  background), opacity and shape from the photo alone, and their depth from the generated views
  alone (``views_move_depth``; the photo says nothing about depth), within ``max_depth_offset_m`` of
  where they started, so a bad generated view cannot throw the front far away;
* the hidden ones (the back, the side walls) take their colour from the generated views alone (the
  photo's tiny gradients through an occluding surface, made full steps by Adam, would paint the back
  with the front's colours), and the rest from everything; they never come in front of the surface
  the photo shows, a bound that moves with that surface (each hidden Gaussian follows the depth of
  the nearest visible one in the photo's pixels);
* no Gaussian grows beyond its start size (near the silhouette a grown one would spill over it).

So the input view stays as faithful as prior mode's while the generated views reshape the depth of
the whole body and recolour the unseen side (the alternatives measured are in ``docs/benchmarks.md``).
Every ``densify_every`` steps a simple, bounded densify/prune runs: the Gaussians with the largest
accumulated depth gradients are split in two (smaller, moved apart along their input ray), up to
``max_growth`` x the start count; nearly transparent ones are pruned, never below ``min_keep`` x the
start count; then what the photo sees is recomputed. Rendering: gsplat on CUDA, the project's own
renderer on the CPU (:func:`humansplat.render.render`, ``backend="auto"``).

Images are channel-last, colours in [0, 1], on white. Shapes: V generated views, S view side, N Gaussians.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace

import numpy as np
import torch

from ..cameras import Cameras
from ..errors import Deadline
from ..gaussians import Gaussians
from ..prior.body_fit import BodyFit

__all__ = [
    "FitStats",
    "ViewsFitOptions",
    "fit_gaussians_to_views",
    "input_visible",
    "mask_from_white",
    "views_to_tensors",
]

ProgressFn = Callable[[int, int, float], None]
"""``progress(step, steps, loss)`` after each step."""


@dataclass
class ViewsFitOptions:
    """Options of :func:`fit_gaussians_to_views` (defaults: what views mode runs).

    Attributes:
        steps: Adam steps (fixed).
        size: side in pixels at which the generated views are compared (None: their own size).
        input_size: side at which the photo is compared (None: the crop's own size, at most 512).
        seed: seeds the densification jitter (a local generator; no global seeding).
        input_weight: w_in, weight of the photo (highest).
        view_weight: w_v, weight of the mean over generated views.
        mask_weight: λ_m of the alpha-vs-mask term (λ_i = 1).
        hierarchical_weight: λ_h of the part-weighted term (0 = off).
        lr_means: Adam step of the depths along the input rays, in metres (scaled by the body's height / 1.7 m).
        lr_log_scales, lr_quats, lr_opacity, lr_sh0: Adam steps of the other fields; ``shN`` uses
            ``lr_sh0 / 20``.
        densify_every: steps between densify/prune passes (0 = never).
        densify_from, densify_until: densify/prune only in [from, until · steps).
        densify_fraction: share of the Gaussians split per pass (largest depth gradients).
        max_growth: at most this many times the start count of Gaussians.
        prune_opacity: Gaussians below this opacity are pruned.
        min_keep: never fewer than this share of the start count.
        backend: renderer (``"auto"``: gsplat on CUDA when installed, else the torch backend).
        protect_tolerance_m: depth tolerance of "what the photo sees", metres: within this of its
            rendered depth inside its mask, or anywhere outside the mask (where the photo shows the
            background).
        views_move_depth: the generated views move what the photo sees along its rays (False: it keeps
            its depth).
        max_depth_offset_m: what the photo sees moves at most this far (metres, scaled by the body's
            height / 1.7 m) from its start depth.
    """

    steps: int = 200
    size: int | None = None
    input_size: int | None = None
    seed: int = 0
    input_weight: float = 4.0
    view_weight: float = 1.0
    mask_weight: float = 1.0
    hierarchical_weight: float = 1.0
    lr_means: float = 2e-3
    lr_log_scales: float = 5e-3
    lr_quats: float = 1e-3
    lr_opacity: float = 2.5e-2
    lr_sh0: float = 2e-2
    densify_every: int = 50
    densify_from: int = 25
    densify_until: float = 0.8
    densify_fraction: float = 0.05
    max_growth: float = 1.5
    prune_opacity: float = 0.005
    min_keep: float = 0.5
    backend: str = "auto"
    protect_tolerance_m: float = 0.02
    views_move_depth: bool = True
    max_depth_offset_m: float = 0.05

    def __post_init__(self) -> None:
        if int(self.steps) < 0:
            raise ValueError(f"ViewsFitOptions.steps must be >= 0, got {self.steps!r}")
        if self.size is not None and int(self.size) < 8:
            raise ValueError(f"ViewsFitOptions.size must be >= 8 pixels or None, got {self.size!r}")
        for name in ("input_weight", "view_weight", "mask_weight", "hierarchical_weight"):
            if not (getattr(self, name) >= 0 and math.isfinite(getattr(self, name))):
                raise ValueError(f"ViewsFitOptions.{name} must be finite and >= 0, got {getattr(self, name)!r}")
        if not (self.max_depth_offset_m >= 0 and math.isfinite(self.max_depth_offset_m)):
            raise ValueError(
                f"ViewsFitOptions.max_depth_offset_m must be finite and >= 0, got {self.max_depth_offset_m!r}"
            )
        if self.max_growth < 1.0 or not 0.0 < self.min_keep <= 1.0 or not 0.0 <= self.densify_fraction <= 1.0:
            raise ValueError(
                f"ViewsFitOptions: need max_growth >= 1, 0 < min_keep <= 1, 0 <= densify_fraction <= 1; got "
                f"{self.max_growth!r}, {self.min_keep!r}, {self.densify_fraction!r}"
            )


@dataclass
class FitStats:
    """What the fit did.

    Attributes:
        steps: steps run; requested: steps asked for.
        seconds: wall time of the optimisation; seconds_per_step: its mean per step.
        loss_first, loss_last: total loss at the first and the last step.
        gaussians_start, gaussians_end: counts before and after.
        densified, pruned: Gaussians added by splits and removed by pruning, over all passes.
        backend: the renderer used.
        terms: the last step's loss terms (``input/rgb``, ``views/mask``, ``input/hier``, ...).
    """

    steps: int
    requested: int
    seconds: float
    seconds_per_step: float
    loss_first: float
    loss_last: float
    gaussians_start: int
    gaussians_end: int
    densified: int = 0
    pruned: int = 0
    backend: str = "torch"
    terms: dict[str, float] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------- inputs
def mask_from_white(images: torch.Tensor, lo: float = 0.02, hi: float = 0.08) -> torch.Tensor:
    """(V, S, S, 3) colours in [0, 1] on white -> (V, S, S) soft person mask: 0 where every channel is
    within ``lo`` of white, 1 beyond ``hi`` (linear between). For generated views, which come on white
    without a mask (a white garment reads as background: the mask term then pulls it thinner)."""
    distance = (1.0 - images).amax(dim=-1)
    return ((distance - lo) / (hi - lo)).clamp(0.0, 1.0)


def views_to_tensors(images: np.ndarray | torch.Tensor, size: int | None = None) -> torch.Tensor:
    """(V, S, S, 3) uint8 (or float in [0, 1]) -> (V, s, s, 3) float32 in [0, 1], area-resampled to
    ``size`` (pixel edges kept: the cameras follow with :meth:`Cameras.resize`)."""
    x = torch.as_tensor(np.asarray(images) if not torch.is_tensor(images) else images)
    x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    if x.ndim == 3:
        x = x[..., None]
    if size is not None and x.shape[1] != size:
        chw = x.permute(0, 3, 1, 2)  # [V, S, S, c] -> [V, c, S, S]
        chw = torch.nn.functional.interpolate(
            chw, size=(size, size), mode="bilinear", antialias=True, align_corners=False
        )
        x = chw.permute(0, 2, 3, 1)
    return x


# ---------------------------------------------------------------------------------------- fit
_FIELDS = ("means", "log_scales", "quats", "logit_opacities", "sh0", "shN")


class _Params:
    """The optimised tensors: the Gaussians' fields, with ``means`` replaced by ``depth`` (N,) along
    fixed unit ``dirs`` (N, 3) from ``origin`` (3,), the input camera's centre.

    The scales are relative to the depth: the Gaussian's log scales are ``log_scales + log(depth /
    depth0)`` with ``depth0`` (N,) the depth at the start, so a Gaussian moved along its ray keeps its
    footprint in the input view (to first order)."""

    def __init__(self, g: Gaussians, origin: torch.Tensor) -> None:
        self.origin = origin
        self.tensors = {k: getattr(g, k).detach().clone().float() for k in _FIELDS}
        offset = self.tensors.pop("means") - origin
        self.tensors["depth"] = offset.norm(dim=-1).clamp_min(1e-6)
        self.dirs = offset / self.tensors["depth"][:, None]
        self.depth0 = self.tensors["depth"].detach().clone()
        for v in self.tensors.values():
            v.requires_grad_(True)

    @property
    def depth(self) -> torch.Tensor:
        """(N,) distance of each mean from ``origin`` along its ray, metres (optimised)."""
        return self.tensors["depth"]

    def gaussians(self) -> Gaussians:
        t = dict(self.tensors)
        depth = t.pop("depth")
        t["means"] = self.origin + depth[:, None] * self.dirs
        t["log_scales"] = t["log_scales"] + torch.log(depth / self.depth0)[:, None]
        return Gaussians(**t)


def _optimizer(params: _Params, opt: ViewsFitOptions, scene_scale: float) -> torch.optim.Adam:
    lrs = {
        "depth": opt.lr_means * scene_scale,
        "log_scales": opt.lr_log_scales,
        "quats": opt.lr_quats,
        "logit_opacities": opt.lr_opacity,
        "sh0": opt.lr_sh0,
        "shN": opt.lr_sh0 / 20.0,
    }
    groups = [{"params": [v], "lr": lrs[k], "name": k} for k, v in params.tensors.items() if v.numel() > 0]
    return torch.optim.Adam(groups, eps=1e-15)


def _densify_and_prune(
    g: Gaussians,
    score: torch.Tensor,
    n_start: int,
    opt: ViewsFitOptions,
    generator: torch.Generator,
    origin: torch.Tensor,
    start_depth: torch.Tensor,
) -> tuple[Gaussians, int, int, torch.Tensor]:
    """One bounded pass over detached Gaussians: prune transparent ones (never below ``min_keep`` x
    ``n_start``), then split the ``densify_fraction`` with the largest ``score`` (N,) in two, smaller by
    1.6 and moved apart by one sample of their own shape along their ray from ``origin`` (3,) (the
    input view sees them on the same pixel; never above ``max_growth`` x ``n_start``). ``start_depth``
    (N,) follows the Gaussians (pruned with them, copied to twins). Returns (Gaussians, split count,
    pruned count, their start depths)."""
    from ..geometry import quat_to_rotmat

    with torch.no_grad():
        n = len(g)
        opacity = g.opacities
        drop = opacity < opt.prune_opacity
        max_drop = max(0, n - math.ceil(opt.min_keep * n_start))
        if int(drop.sum()) > max_drop:
            drop = torch.zeros_like(drop)
            drop[torch.argsort(opacity)[:max_drop]] = True
        g, score = g.select(~drop), score[~drop]
        start_depth = start_depth[~drop]
        pruned = int(drop.sum())
        n = len(g)
        k = max(0, min(int(opt.max_growth * n_start) - n, int(opt.densify_fraction * n)))
        if k == 0:
            return g, 0, pruned, start_depth
        idx = torch.topk(score, k).indices
        scales = g.log_scales[idx].exp()
        rot = quat_to_rotmat(torch.nn.functional.normalize(g.quats[idx], dim=-1))
        noise = torch.randn(k, 3, generator=generator).to(scales)
        offset = torch.einsum("nij,nj->ni", rot, noise * scales)  # [k, 3]: one sample of each Gaussian
        ray = torch.nn.functional.normalize(g.means[idx] - origin, dim=-1)
        offset = (offset * ray).sum(-1, keepdim=True) * ray
        means, log_scales = g.means.clone(), g.log_scales.clone()
        means[idx] -= offset
        log_scales[idx] -= math.log(1.6)
        split = replace(g, means=means, log_scales=log_scales)
        twins = replace(split[idx], means=g.means[idx] + offset)
        return Gaussians.cat([split, twins]), k, pruned, torch.cat([start_depth, start_depth[idx]])


def input_visible(
    g: Gaussians, camera: Cameras, mask: torch.Tensor, tolerance_m: float = 0.02, backend: str = "auto"
) -> tuple[torch.Tensor, torch.Tensor]:
    """What the input view sees of ``g``.

    Returns:
        visible: (N,) bool, mean projected inside the image and either outside ``mask`` (H, W) > 0.5
            (what the photo shows as background) or no deeper than the rendered expected depth there
            plus ``tolerance_m`` (what the photo shows of the person);
        surface: (N,) float32, the rendered depth (metres) at each mean's pixel plus ``tolerance_m``
            inside the mask (0 elsewhere): the depth in front of which nothing hidden may come.
    """
    from ..render import render

    with torch.no_grad():
        out = render(g, camera, background=1.0, backend=backend)
        uv, z = camera.project(g.means)
        H, W = camera.height, camera.width
        j = uv[0, :, 0].floor().long()
        i = uv[0, :, 1].floor().long()
        jj, ii = j.clamp(0, W - 1), i.clamp(0, H - 1)
        in_image = (j >= 0) & (j < W) & (i >= 0) & (i < H) & (z[0] > 0)
        inside = in_image & (mask[ii, jj] > 0.5)
        surface = torch.where(inside, out.depth[0, ii, jj, 0] + tolerance_m, torch.zeros_like(z[0]))
        return (inside & (z[0] <= surface)) | (in_image & ~inside), surface


@dataclass
class _Guard:
    """Which gradients reach what, for one set of Gaussians (recomputed at each densify pass).

    Attributes:
        protected: (N,) bool, what the photo sees (:func:`input_visible`).
        on_person: (N,) bool, the protected ones the photo shows as the person (inside its mask; the
            others it shows as background).
        min_depth: (N,) distance along its input ray in front of which a hidden Gaussian may not come
            (the surface the photo shows, plus the tolerance), when this guard was made; 0 for protected
            ones.
        anchor: (N,) long, the protected Gaussian on the person nearest to each one in the photo's pixels
            (-1: none): the surface in front of a hidden Gaussian moves with its anchor's depth.
        anchor_depth: (N,) the anchor's depth when this guard was made.
    """

    protected: torch.Tensor
    on_person: torch.Tensor
    min_depth: torch.Tensor
    anchor: torch.Tensor
    anchor_depth: torch.Tensor

    @classmethod
    def of(
        cls,
        g: Gaussians,
        camera: Cameras,
        mask: torch.Tensor,
        origin: torch.Tensor,
        tolerance_m: float,
        backend: str,
        chunk: int = 1024,
    ) -> _Guard:
        """The guard of ``g`` seen by the input ``camera`` (one view, centre ``origin`` (3,)) with person
        ``mask`` (H, W)."""
        visible, surface = input_visible(g, camera, mask, tolerance_m=tolerance_m, backend=backend)
        person = visible & (surface > 0)
        with torch.no_grad():
            depth = (g.means - origin).norm(dim=-1)
            # surface is a camera z; the depth is the distance along the ray: scale by |ray| / z
            z = camera.world_to_camera(g.means)[0, :, 2].clamp_min(1e-6)
            min_depth = torch.where(visible, torch.zeros_like(surface), surface * depth / z)
            on_person = torch.nonzero(person).reshape(-1)
            anchor = torch.full_like(depth, -1, dtype=torch.long)
            if len(on_person):
                uv = camera.project(g.means)[0][0]
                hidden = torch.nonzero(~visible).reshape(-1)
                for start in range(0, len(hidden), chunk):
                    rows = hidden[start : start + chunk]
                    anchor[rows] = on_person[torch.cdist(uv[rows], uv[on_person]).argmin(dim=1)]
            return cls(visible, person, min_depth, anchor, depth[anchor.clamp_min(0)])

    def route(
        self, name: str, photo: torch.Tensor, views: torch.Tensor, opt: ViewsFitOptions
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The gradients (rows: Gaussians) of field ``name`` from the photo and from the generated views,
        with what each may not touch zeroed (in place): the photo never moves what it sees (it says
        nothing about depth; Adam would turn its tiny gradients into full steps); the views touch only
        the depth of what the photo sees (``views_move_depth``); the photo colours only what it shows
        as the person, the views everything else."""
        p = self.protected
        if name == "depth":
            photo[p] = 0.0
            if not opt.views_move_depth:
                views[p] = 0.0
        elif name in ("sh0", "shN"):
            views[self.on_person] = 0.0
            photo[~self.on_person] = 0.0
        else:
            views[p] = 0.0
        return photo, views

    def bound_depth(self, depth: torch.Tensor, start: torch.Tensor, max_offset: float) -> None:
        """Clamp ``depth`` (N,) in place: protected Gaussians within ``max_offset`` of their ``start``
        depth (N,), hidden ones behind the surface in front of them, moved with their anchors."""
        p = self.protected
        depth.copy_(torch.where(p, torch.minimum(torch.maximum(depth, start - max_offset), start + max_offset), depth))
        has = self.anchor >= 0
        shift = torch.where(has, depth[self.anchor.clamp_min(0)] - self.anchor_depth, torch.zeros_like(depth))
        depth.copy_(torch.where(p, depth, torch.maximum(depth, self.min_depth + shift)))


@dataclass
class _Targets:
    """What the fit compares against, on the fit's device.

    Attributes:
        input_camera: the photo's camera at the compared size s.
        photo, photo_mask: (1, s, s, 3) colours and (1, s, s) person mask of the photo.
        photo_parts: the fitted body's part masks in the photo (:func:`~humansplat.objectives.part_masks`);
            None without the hierarchical term.
        view_cameras: the V generated views' cameras at the compared size S.
        views, view_masks: (V, S, S, 3) colours and (V, S, S) person masks of the generated views.
        view_parts: the part masks in the views; None without the hierarchical term or views.
    """

    input_camera: Cameras
    photo: torch.Tensor
    photo_mask: torch.Tensor
    photo_parts: torch.Tensor | None
    view_cameras: Cameras
    views: torch.Tensor
    view_masks: torch.Tensor
    view_parts: torch.Tensor | None


def _targets(
    body_fit: BodyFit,
    views: np.ndarray | torch.Tensor,
    view_cameras: Cameras,
    view_masks: np.ndarray | torch.Tensor | None,
    opt: ViewsFitOptions,
    device: torch.device,
) -> _Targets:
    """The photo and the generated views at their compared sizes (see :func:`fit_gaussians_to_views`);
    raises ``ValueError`` when the views do not match their cameras or masks."""
    from ..objectives import part_masks

    V = len(view_cameras)
    imgs = views_to_tensors(views)
    if imgs.shape[0] != V or imgs.shape[-1] != 3:
        raise ValueError(f"views must be (V, S, S, 3) with V = {V} cameras, got {tuple(imgs.shape)}")
    if (imgs.shape[1], imgs.shape[2]) != (view_cameras.height, view_cameras.width):
        raise ValueError(
            f"views are {imgs.shape[2]}x{imgs.shape[1]} but their cameras are "
            f"{view_cameras.width}x{view_cameras.height}"
        )
    size = int(opt.size or view_cameras.width)
    masks = mask_from_white(imgs) if view_masks is None else views_to_tensors(view_masks)[..., 0]
    if tuple(masks.shape) != tuple(imgs.shape[:3]):
        raise ValueError(f"view_masks must be (V, S, S) = {tuple(imgs.shape[:3])}, got {tuple(masks.shape)}")
    cams_views = view_cameras.resize(size, size).to(device)
    crop = body_fit.crop
    in_size = int(opt.input_size or min(body_fit.camera.width, 512))
    cam_in = body_fit.camera.resize(in_size, in_size).to(device)
    hier = opt.hierarchical_weight > 0
    return _Targets(
        input_camera=cam_in,
        photo=views_to_tensors(np.asarray(crop.rgb)[None], in_size).to(device),
        photo_mask=views_to_tensors(np.asarray(crop.mask, dtype=np.float32)[None], in_size)[..., 0].to(device),
        photo_parts=part_masks(body_fit, cam_in) if hier else None,
        view_cameras=cams_views,
        views=views_to_tensors(imgs, size).to(device),
        view_masks=views_to_tensors(masks, size)[..., 0].to(device),
        view_parts=part_masks(body_fit, cams_views) if hier and V else None,
    )


def _view_loss(
    g: Gaussians,
    cameras: Cameras,
    gt: torch.Tensor,
    gt_mask: torch.Tensor,
    parts: torch.Tensor | None,
    opt: ViewsFitOptions,
    backend: str,
    tag: str,
    terms: dict[str, float],
) -> torch.Tensor:
    """``L(view)`` of the module docstring for ``g`` rendered by ``cameras`` against ``gt`` and
    ``gt_mask``, summed over the views; its terms go into ``terms`` as ``{tag}/rgb``, ``{tag}/mask``
    and ``{tag}/hier``."""
    from ..render import render
    from ..objectives import hierarchical_loss, reconstruction_loss

    weights = (1.0, float(opt.mask_weight), 0.0)
    out = render(g, cameras, background=1.0, backend=backend)
    rec = reconstruction_loss(out.rgb, out.alpha, gt, gt_mask, None, weights)
    total = rec.total
    terms[f"{tag}/rgb"], terms[f"{tag}/mask"] = float(rec.rgb.detach()), float(rec.mask.detach())
    if parts is not None:
        h = hierarchical_loss(out.rgb, out.alpha, gt, gt_mask, parts, None, weights)
        total = total + opt.hierarchical_weight * h.total
        terms[f"{tag}/hier"] = float(h.total.detach())
    return total


@dataclass
class _State:
    """The optimisation of one set of N Gaussians (rebuilt after each densify/prune pass).

    Attributes:
        params: the optimised tensors.
        guard: what the photo sees and the depth bounds.
        start_depth: (N,) each Gaussian's depth along its input ray when the fit started (twins inherit it).
        max_log_scales: (N, 3) the log scales no Gaussian may grow beyond.
        optimizer: Adam over ``params``.
        score: (N,) accumulated norm of the depth gradients (which Gaussians to split).
    """

    params: _Params
    guard: _Guard
    start_depth: torch.Tensor
    max_log_scales: torch.Tensor
    optimizer: torch.optim.Adam
    score: torch.Tensor

    @classmethod
    def of(
        cls,
        g: Gaussians,
        start_depth: torch.Tensor | None,
        targets: _Targets,
        opt: ViewsFitOptions,
        scene_scale: float,
        backend: str,
    ) -> _State:
        """The state for Gaussians ``g`` (start depths: their own when None)."""
        origin = targets.input_camera.centers[0].to(g.device)
        params = _Params(g, origin)
        start = params.depth.detach().clone() if start_depth is None else start_depth
        guard = _Guard.of(g, targets.input_camera, targets.photo_mask[0], origin, opt.protect_tolerance_m, backend)
        max_log_scales = params.tensors["log_scales"].detach().clone()
        score = torch.zeros(len(g), device=g.device)
        return cls(params, guard, start, max_log_scales, _optimizer(params, opt, scene_scale), score)

    def step(
        self, targets: _Targets, opt: ViewsFitOptions, backend: str, use_views: bool, max_offset: float
    ) -> tuple[float, dict[str, float]]:
        """One Adam step: the photo's and the views' gradients routed by the guard, then the bounds
        (depths, no growth); the depth gradients add to ``score``. Returns (total loss, its terms)."""
        params = self.params
        g = params.gaussians()
        terms: dict[str, float] = {}
        self.optimizer.zero_grad(set_to_none=True)
        loss_in = opt.input_weight * _view_loss(
            g, targets.input_camera, targets.photo, targets.photo_mask, targets.photo_parts, opt, backend, "input", terms
        )
        total = float(loss_in.detach())
        names = list(params.tensors)
        tensors = [params.tensors[k] for k in names]
        grads_in = torch.autograd.grad(loss_in, tensors, retain_graph=use_views, allow_unused=True)
        grads_views: tuple[torch.Tensor | None, ...] = (None,) * len(names)
        if use_views:
            loss_views = opt.view_weight * _view_loss(
                g, targets.view_cameras, targets.views, targets.view_masks, targets.view_parts, opt, backend, "views", terms
            )
            total += float(loss_views.detach())
            grads_views = torch.autograd.grad(loss_views, tensors, allow_unused=True)
        with torch.no_grad():
            for name, v, gi, gv in zip(names, tensors, grads_in, grads_views):
                gi = torch.zeros_like(v) if gi is None else gi
                gv = torch.zeros_like(v) if gv is None else gv
                gi, gv = self.guard.route(name, gi, gv, opt)
                v.grad = gi + gv
        self.optimizer.step()
        with torch.no_grad():
            self.guard.bound_depth(params.depth, self.start_depth, max_offset)
            # no Gaussian grows (a grown wall near the silhouette would spill over it)
            torch.minimum(params.tensors["log_scales"], self.max_log_scales, out=params.tensors["log_scales"])
        grad = params.depth.grad
        if grad is not None:
            self.score += grad.detach().reshape(len(self.score), -1).norm(dim=-1)
        return total, terms


def _scene_scale(body_fit: BodyFit) -> float:
    """The fitted body's largest extent / 1.7 m (1 without vertices): lengths in options are for a 1.7 m person."""
    verts = torch.as_tensor(body_fit.vertices, dtype=torch.float32)
    return float((verts.amax(0) - verts.amin(0)).max()) / 1.7 if len(verts) else 1.0


def fit_gaussians_to_views(
    gaussians: Gaussians,
    body_fit: BodyFit,
    views: np.ndarray | torch.Tensor,
    view_cameras: Cameras,
    options: ViewsFitOptions | None = None,
    view_masks: np.ndarray | torch.Tensor | None = None,
    progress: ProgressFn | None = None,
    deadline: Deadline | None = None,
) -> tuple[Gaussians, FitStats]:
    """Refine ``gaussians`` on the photo (``body_fit.crop`` with ``body_fit.camera``) and V generated views.

    Args:
        gaussians: the start (prior-mode Gaussians), world = the input camera frame; not modified.
        body_fit: the fitted body (part masks) and the photo crop, its mask and camera (the input view).
        views: (V, S, S, 3) uint8 (or float in [0, 1]) generated views on white.
        view_cameras: their V cameras (:func:`humansplat.multiview.framing.orbit_view_cameras`).
        options: :class:`ViewsFitOptions`.
        view_masks: (V, S, S) person masks of the views in [0, 1]; default :func:`mask_from_white`.
        progress: ``progress(step, steps, loss)`` after each step.
        deadline: the run's time limit (:class:`humansplat.errors.Deadline`), checked after every
            step: past it the fit raises :class:`~humansplat.errors.TimeLimitError`, as every long loop does.

    Returns:
        The refined Gaussians (detached, on ``gaussians.device``) and :class:`FitStats`.
    """
    from ..errors import check_deadline
    from ..render import gsplat_available

    opt = options or ViewsFitOptions()
    device = gaussians.device
    targets = _targets(body_fit, views, view_cameras, view_masks, opt, device)
    scene_scale = _scene_scale(body_fit)
    backend = opt.backend
    if backend == "auto":
        backend = "gsplat" if device.type == "cuda" and gsplat_available() else "torch"
    use_views = bool(len(view_cameras)) and opt.view_weight > 0
    max_offset = opt.max_depth_offset_m * scene_scale
    state = _State.of(gaussians.to(device), None, targets, opt, scene_scale, backend)
    n_start = len(gaussians)
    generator = torch.Generator().manual_seed(int(opt.seed))
    loss_first = loss_last = float("nan")
    densified = pruned = 0
    terms: dict[str, float] = {}
    steps = int(opt.steps)
    done = 0
    t0 = time.perf_counter()
    for step in range(steps):
        loss_last, terms = state.step(targets, opt, backend, use_views, max_offset)
        if step == 0:
            loss_first = loss_last
        done = step + 1
        if progress is not None:
            progress(done, steps, loss_last)
        in_window = opt.densify_from <= done < opt.densify_until * steps
        if opt.densify_every and in_window and done % opt.densify_every == 0:
            origin = state.params.origin
            g, added, removed, start_depth = _densify_and_prune(
                state.params.gaussians().detach(), state.score, n_start, opt, generator, origin, state.start_depth
            )
            densified, pruned = densified + added, pruned + removed
            state = _State.of(g, start_depth, targets, opt, scene_scale, backend)
        check_deadline(deadline, "views fit")
    seconds = time.perf_counter() - t0
    result = state.params.gaussians().detach()
    stats = FitStats(
        steps=done,
        requested=steps,
        seconds=round(seconds, 3),
        seconds_per_step=round(seconds / max(done, 1), 4),
        loss_first=loss_first,
        loss_last=loss_last,
        gaussians_start=n_start,
        gaussians_end=len(result),
        densified=densified,
        pruned=pruned,
        backend=backend,
        terms={k: round(v, 6) for k, v in terms.items()},
    )
    return result, stats


assert {f.name for f in fields(Gaussians)} >= set(_FIELDS)
