"""The ``anny`` body model backend (Apache-2.0, NAVER; its package ships all its data).

anny's own frame is **z-up, metres, the body facing -y, the subject's left at +x**, root (pelvis)
at the origin. We convert it to the model frame of :mod:`.base` (x left, y down, z front-to-back)
with the fixed rotation ``A`` (``x_model = A @ x_anny``), and pose it with anny's ``local-ref``
parameterisation (each bone's delta rotation in world-aligned axes at the reference A-pose), which
our per-group axis-angles map to directly (``r_anny = A^T r_model``).

Skinning is our own sparse linear blend skinning over anny's weights, so a vertex subset can be
skinned alone (the fit poses ~1,500 of the 13,718 vertices); a test checks it against anny's own
forward. anny's Warp kernels are not used (no compilation on first load). With a
:meth:`AnnyBody.rest_state` the forward poses only the bones of the pose groups, first order in the
shape (:mod:`.anny_rest`): the fit's steps.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ...geometry import axis_angle_to_matrix
from ...parts import PART_NAMES
from .anny_rest import AnchorSkeleton, RestState, anchor_rows, posed_points
from .base import HINGE_GROUPS, LANDMARK_NAMES, POSE_GROUPS, BodyModel, BodyOutput, BodyParams

__all__ = ["ANNY_TO_MODEL", "AnnyBody", "RestState"]

ANNY_TO_MODEL = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
"""(3, 3) rotation from anny's axes (z up, facing -y) to the model frame (y down, facing -z)."""

# Pose group -> (bone, share of the group's rotation); shares of a chain add up to the whole bend.
_GROUP_BONES: dict[str, tuple[tuple[str, float], ...]] = {
    "spine_lower": (("spine05", 1 / 3), ("spine04", 1 / 3), ("spine03", 1 / 3)),
    "spine_upper": (("spine02", 0.5), ("spine01", 0.5)),
    "neck": (("neck01", 1 / 3), ("neck02", 1 / 3), ("neck03", 1 / 3)),
    "head": (("head", 1.0),),
    "shoulder.L": (("upperarm01.L", 1.0),),
    "shoulder.R": (("upperarm01.R", 1.0),),
    "elbow.L": (("lowerarm01.L", 1.0),),
    "elbow.R": (("lowerarm01.R", 1.0),),
    "wrist.L": (("wrist.L", 1.0),),
    "wrist.R": (("wrist.R", 1.0),),
    "hip.L": (("upperleg01.L", 1.0),),
    "hip.R": (("upperleg01.R", 1.0),),
    "knee.L": (("lowerleg01.L", 1.0),),
    "knee.R": (("lowerleg01.R", 1.0),),
    "ankle.L": (("foot.L", 1.0),),
    "ankle.R": (("foot.R", 1.0),),
}

# anny's COCO-WholeBody keypoint regressor names for MediaPipe landmarks it covers.
_COCO_FOR_LANDMARK = {
    "nose": "nose", "left_eye": "left_eye", "right_eye": "right_eye", "left_ear": "left_ear",
    "right_ear": "right_ear", "left_shoulder": "left_shoulder", "right_shoulder": "right_shoulder",
    "left_elbow": "left_elbow", "right_elbow": "right_elbow", "left_wrist": "left_wrist",
    "right_wrist": "right_wrist", "left_hip": "left_hip", "right_hip": "right_hip", "left_knee": "left_knee",
    "right_knee": "right_knee", "left_ankle": "left_ankle", "right_ankle": "right_ankle",
    "left_heel": "left_heel", "right_heel": "right_heel", "left_foot_index": "left_big_toe",
    "right_foot_index": "right_big_toe",
}
# MediaPipe hand points of the pose topology: finger knuckles = bone heads.
_BONE_FOR_LANDMARK = {
    "left_pinky": "finger5-1.L", "right_pinky": "finger5-1.R", "left_index": "finger2-1.L",
    "right_index": "finger2-1.R", "left_thumb": "finger1-3.L", "right_thumb": "finger1-3.R",
}
# Eye and mouth corners: the face vertex seen nearest (x, y only: front view) to an offset (model
# frame, metres: x left, y down) from a keypoint of the reference body.
_VERTEX_FOR_LANDMARK = {
    "left_eye_inner": ("left_eye", (-0.013, 0.004)),
    "left_eye_outer": ("left_eye", (0.013, 0.004)),
    "right_eye_inner": ("right_eye", (0.013, 0.004)),
    "right_eye_outer": ("right_eye", (-0.013, 0.004)),
    "mouth_left": ("nose", (0.020, 0.042)),
    "mouth_right": ("nose", (-0.020, 0.042)),
}

_ARMS_DOWN_DEG = 32.0  # anny's A-pose holds the arms 40 deg from the body; the neutral pose lowers them

SHAPE_NAMES = ("gender", "age", "muscle", "weight", "height", "proportions")
_DEFAULT_SHAPE = {"gender": 0.5, "age": 0.7, "muscle": 0.5, "weight": 0.5, "height": 0.38, "proportions": 0.5}
_SHAPE_SCALE = {"gender": 0.5, "age": 0.1, "muscle": 0.3, "weight": 0.3, "height": 0.1, "proportions": 0.3}
_SHAPE_BOUNDS = {"age": (0.45, 1.0)}

# Segmentation texture labels of anny (data/segmentation) that are inside the body.
_INTERNAL_LABELS = ("eye_back.L", "eye_back.R", "eye_cavity.L", "eye_cavity.R", "mouth_cavity", "tongue")


def _bone_part(label: str) -> str:
    """Part of a vertex dominated by bone ``label`` (for vertices the segmentation calls 'body')."""
    if label.startswith(("upperarm", "lowerarm", "shoulder")):
        return "arms"
    if label.startswith(("wrist", "finger", "metacarpal")):
        return "hands"
    if label.startswith(("upperleg", "lowerleg")):
        return "legs"
    if label.startswith(("foot", "toe")):
        return "feet"
    if label.startswith(("head", "eye")):
        return "head"
    return "torso"  # root, pelvis, spine, clavicle, neck


class AnnyBody(BodyModel):
    """anny's full-body model (13,718 vertices, 104 bones) behind :class:`BodyModel`.

    Args:
        dtype: computation dtype (float32 is plenty for fitting and rendering).
    """

    name = "anny"

    def __init__(self, dtype: torch.dtype = torch.float32) -> None:
        import anny

        # "lbs": anny's pure-torch path; we skin ourselves, so its Warp kernels never compile.
        model = anny.Anny(skinning_method="lbs").to(dtype)
        model.requires_grad_(False)
        self._anny = model
        self.dtype = dtype
        self.anny_version = getattr(anny, "__version__", "unknown")
        if list(model.phenotype_labels) != list(SHAPE_NAMES):
            raise RuntimeError(f"unexpected anny phenotypes {model.phenotype_labels}; expected {SHAPE_NAMES}")
        self.joint_names = tuple(model.bone_labels)
        self.shape_names = SHAPE_NAMES
        self._A = ANNY_TO_MODEL.to(dtype)
        self.faces = model.faces.to(torch.int64).reshape(-1, 3).clone()

        # Group -> bone scatter: delta rotation vectors of the posed bones = M @ group rotvecs.
        bone_index = {b: i for i, b in enumerate(self.joint_names)}
        rows, cols, vals = [], [], []
        for g, group in enumerate(POSE_GROUPS):
            for bone, share in _GROUP_BONES[group]:
                rows.append(bone_index[bone])
                cols.append(g)
                vals.append(share)
        self._posed_bones = torch.tensor(sorted(set(rows)), dtype=torch.int64)
        local_row = {b: k for k, b in enumerate(self._posed_bones.tolist())}
        share = torch.zeros(len(self._posed_bones), len(POSE_GROUPS), dtype=dtype)
        for r, c, v in zip(rows, cols, vals):
            share[local_row[r], c] = v
        self._group_share = share  # (n_posed, P)
        if model.pose_parameterization != "local-ref" or not torch.allclose(
            model.reference_bone_orientations[0], torch.eye(3, dtype=dtype)
        ):
            raise RuntimeError("anny's local-ref parameterisation with an unrotated root is expected (see anny_rest)")
        self._skeleton = AnchorSkeleton.build(self.bone_parents, self._posed_bones.tolist())
        self._subset_cache: dict[bytes, tuple[torch.Tensor, torch.Tensor]] = {}

        # Reference-pose geometry for parts, landmarks and hinge axes (model frame).
        with torch.no_grad():
            rest = self._forward_model_frame(self.neutral_params().shape[None], None, None)
        v0 = rest["vertices"][0]
        j0 = rest["joints"][0]
        self._labels = self._segmentation_labels()
        self.surface = ~np.isin(self._labels, _INTERNAL_LABELS)
        self.parts = self._compute_parts(v0.numpy(), j0.numpy())
        self._build_landmarks(v0, j0)
        self.hinge_axes = self._compute_hinge_axes(j0)

    # ------------------------------------------------------------------ shape
    def default_shape(self) -> torch.Tensor:
        return torch.tensor([_DEFAULT_SHAPE[n] for n in SHAPE_NAMES])

    def shape_scale(self) -> torch.Tensor:
        return torch.tensor([_SHAPE_SCALE[n] for n in SHAPE_NAMES])

    def shape_bounds(self) -> tuple[torch.Tensor, torch.Tensor]:
        lo = torch.tensor([_SHAPE_BOUNDS.get(n, (0.0, 1.0))[0] for n in SHAPE_NAMES])
        hi = torch.tensor([_SHAPE_BOUNDS.get(n, (0.0, 1.0))[1] for n in SHAPE_NAMES])
        return lo, hi

    def neutral_pose(self) -> torch.Tensor:
        """Arms lowered from anny's A-pose to hang beside the body (the rest is the reference pose)."""
        pose = torch.zeros(len(POSE_GROUPS), 3)
        pose[POSE_GROUPS.index("shoulder.L"), 2] = math.radians(_ARMS_DOWN_DEG)
        pose[POSE_GROUPS.index("shoulder.R"), 2] = -math.radians(_ARMS_DOWN_DEG)
        return pose

    # ------------------------------------------------------------------ forward
    def forward(
        self, params: BodyParams, vertex_index: torch.Tensor | None = None, rest: RestState | None = None
    ) -> BodyOutput:
        shape = params.shape
        batch = shape.shape[:-1]
        flat = lambda t, k: t.reshape((-1,) + tuple(t.shape[len(batch):])).to(self.dtype)
        out = self._forward_model_frame(flat(shape, 1), flat(params.body_pose, 2), vertex_index, landmarks=True, rest=rest)
        R = axis_angle_to_matrix(flat(params.global_orient, 1))  # (B, 3, 3)
        t = flat(params.translation, 1)[:, None, :]  # (B, 1, 3)

        def to_cam(x: torch.Tensor) -> torch.Tensor:  # (B, n, 3) model frame -> camera frame
            return (x @ R.transpose(-1, -2) + t).reshape(batch + x.shape[1:]).float()

        return BodyOutput(
            vertices=to_cam(out["vertices"]), joints=to_cam(out["joints"]), landmarks=to_cam(out["landmarks"])
        )

    def model_frame(
        self, body_pose: torch.Tensor, shape: torch.Tensor, vertex_index: torch.Tensor | None = None, rest: RestState | None = None
    ) -> BodyOutput:
        out = self._forward_model_frame(shape.to(self.dtype), body_pose, vertex_index, landmarks=True, rest=rest)
        return BodyOutput(**{k: out[k].float() for k in ("vertices", "joints", "landmarks")})

    def _forward_model_frame(
        self,
        shape: torch.Tensor,
        body_pose: torch.Tensor | None,
        vertex_index: torch.Tensor | None,
        landmarks: bool = False,
        rest: RestState | None = None,
        bone_frames: bool = False,
    ) -> dict[str, torch.Tensor]:
        """Posed body in the model frame (root at the origin). shape (B, S), body_pose (B, P, 3)."""
        m = self._anny
        B = shape.shape[0]
        index = None if vertex_index is None else vertex_index.to(torch.int64)
        if rest is not None:  # first order in the shape, posed bones only (anny_rest)
            if index is None or not torch.equal(rest.vertex_index, index):
                raise ValueError("rest state was prepared for another vertex_index; call rest_state() again")
            pose = torch.einsum("np,bpc->bnc", self._group_share, body_pose.to(self.dtype))  # (B, n_posed, 3)
            points = posed_points(self._skeleton, rest, shape, pose)
            n, L = index.numel(), len(LANDMARK_NAMES)
            return {"vertices": points[:, :n], "landmarks": points[:, n : n + L], "joints": points[:, n + L :]}
        # 1. Rest state: skeleton, rest vertices, landmark moments.
        empty = shape.new_zeros(B, 0)
        coeffs = m._get_phenotype_blendshape_coefficients(shape, empty, empty)  # (B, K)
        rest_bone_poses = self._rest_bone_poses(coeffs)  # (B, J, 4, 4)
        rest_v = self._rest_vertices(coeffs, index)  # (B, n, 3)
        moments = None
        if landmarks:  # the nonzero (landmark, bone) moments, scattered to (B, L*J, 3)
            from anny.skinning.skinning import apply_linear_blendshape

            L, J = self._lm_w_joints.shape
            lm_rows, lm_bones, _ = self._lm_moment_pairs
            nz = apply_linear_blendshape(*self._lm_moment_blendshapes, coeffs)
            moments = nz.new_zeros(B, L * J, 3).index_copy(1, lm_rows * J + lm_bones, nz)

        # 2. Forward kinematics (anny's local-ref parameterisation).
        delta = torch.eye(4, dtype=self.dtype).expand(B, len(self.joint_names), 4, 4)
        if body_pose is not None:
            rot_model = torch.einsum("np,bpc->bnc", self._group_share, body_pose.to(self.dtype))  # (B, n, 3)
            rot_anny = rot_model @ self._A  # r_anny = A^T r_model, as rows
            Rb = axis_angle_to_matrix(rot_anny)  # (B, n, 3, 3)
            top = torch.cat([Rb, Rb.new_zeros(B, Rb.shape[1], 3, 1)], -1)
            bottom = torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=self.dtype).expand(B, Rb.shape[1], 1, 4)
            delta = delta.index_copy(1, self._posed_bones, torch.cat([top, bottom], -2))
        transforms, poses = m.get_bone_transforms(delta, rest_bone_poses)  # (B, J, 4, 4) each

        # 3. Sparse linear blend skinning of the requested vertices.
        if index is None:
            weights, bones = m.vertex_bone_weights, m.vertex_bone_indices
        else:
            weights, bones = m.vertex_bone_weights[index], m.vertex_bone_indices[index]
        Tsel = transforms[:, bones.long(), :3, :]  # (B, n, k, 3, 4)
        blended = (weights.to(self.dtype)[None, :, :, None, None] * Tsel).sum(2)  # (B, n, 3, 4)
        verts = (blended[..., :3] @ rest_v[..., None])[..., 0] + blended[..., 3]

        # 4. Model frame: root at the origin, our axes.
        joints = poses[:, :, :3, 3]
        root = joints[:, :1, :]
        A_t = self._A.T
        out = {"vertices": (verts - root) @ A_t, "joints": (joints - root) @ A_t}
        if bone_frames:  # (B, J, 4, 4) rigid bone frames in the model frame
            to_model = torch.eye(4, dtype=self.dtype).repeat(B, 1, 1)
            to_model[:, :3, :3] = self._A
            to_model[:, :3, 3] = -root[:, 0] @ A_t
            out["bone_poses"] = to_model[:, None] @ poses
        if landmarks:
            # Regressed vertex landmarks skinned exactly from per-bone moments, plus bone heads.
            L, J = self._lm_w_joints.shape
            M = moments.reshape(B, L, J, 3)
            lm = torch.einsum("bjkc,bljc->blk", transforms[:, :, :3, :3], M) + torch.einsum(
                "lj,bjk->blk", self._lm_bone_mass, transforms[:, :, :3, 3]
            )
            lm = (lm - self._lm_mass[None, :, None] * root) @ A_t
            out["landmarks"] = lm + torch.einsum("lj,bjc->blc", self._lm_w_joints, out["joints"])
        return out

    def _rest_vertices(self, coeffs: torch.Tensor, index: torch.Tensor | None) -> torch.Tensor:
        """(B, n, 3) rest vertices for blendshape coefficients (all V when ``index`` is None)."""
        from anny.skinning.skinning import apply_linear_blendshape

        m = self._anny
        if index is None:
            return apply_linear_blendshape(m.template_vertices, m.blendshapes, coeffs)
        # index_select: plain indexing along dim 1 of the (K, V, 3) blendshapes is much slower.
        return apply_linear_blendshape(m.template_vertices[index], torch.index_select(m.blendshapes, 1, index), coeffs)

    def _landmark_moments(self, rest_support: torch.Tensor) -> torch.Tensor:
        """(B, L*J, 3) per-landmark, per-bone moments sum_v W[l, v] s[v, j] rest_v of the regressed
        landmarks, from the rest vertices of their support (B, n_support, 3). Linear blend skinning
        is linear in the weights, so ``sum_j T_j [moment_lj; mass_lj]`` is the exact skinned landmark."""
        B = rest_support.shape[0]
        L, J = self._lm_w_joints.shape
        vals = self._lm_nz_vals.to(rest_support.dtype)
        contrib = vals[None, :, None] * rest_support[:, self._lm_nz_cols]  # (B, nnz, 3)
        return rest_support.new_zeros(B, L * J, 3).index_add(1, self._lm_nz_rows, contrib)

    def rest_state(self, shape: torch.Tensor, vertex_index: torch.Tensor, step: float = 0.01) -> RestState:
        """First-order model in the shape, around ``shape`` (S,), of the reference-posed points the
        fit reads (vertices ``vertex_index``, landmarks, bone heads) and of the posed bones' heads,
        by central differences (:mod:`.anny_rest`). ``forward(..., rest=...)`` then skips anny's
        phenotype blending and its 104-bone chain. Accurate to ~1 mm for shape changes of 0.03;
        re-prepare when the shape moves further."""
        from anny.skinning.skinning import apply_linear_blendshape

        m = self._anny
        s0 = shape.detach().reshape(-1).to(self.dtype)
        S = s0.numel()
        lo, hi = self.shape_bounds()
        eye = torch.eye(S, dtype=self.dtype) * step
        plus = torch.minimum(s0 + eye, hi.to(self.dtype))
        minus = torch.maximum(s0 - eye, lo.to(self.dtype))
        batch = torch.cat([s0[None], plus, minus])  # (1 + 2S, S)
        index = vertex_index.to(torch.int64)
        n, J, A = index.numel(), len(self.joint_names), self._skeleton.num_anchors
        with torch.no_grad():
            empty = batch.new_zeros(batch.shape[0], 0)
            coeffs = m._get_phenotype_blendshape_coefficients(batch, empty, empty)
            identity = torch.eye(4, dtype=self.dtype).expand(batch.shape[0], J, 4, 4)
            T0, W0 = m.get_bone_transforms(identity, self._rest_bone_poses(coeffs))  # reference pose
            # in the model frame, root at the origin: [A R | A (t - root)]
            root = W0[:, 0, :3, 3]
            T0 = torch.cat([self._A @ T0[..., :3, :3], (self._A @ (T0[..., :3, 3] - root[:, None])[..., None])], -1)
            heads = (W0[..., :3, 3] - root[:, None]) @ self._A.T  # (1 + 2S, J, 3)
            template, blendshapes = self._subset_blendshapes(index)
            rest_v = apply_linear_blendshape(template, blendshapes, coeffs)  # (1 + 2S, n, 3)
            w, b = m.vertex_bone_weights[index].to(self.dtype), m.vertex_bone_indices[index].long()  # (n, k)
            v, j = torch.nonzero(w, as_tuple=True)  # the (vertex, bone) pairs that skin
            rows_v = anchor_rows(self._skeleton, w[v, j, None] * rest_v[:, v], w[v, j], b[v, j], v, n, T0)
            moments = apply_linear_blendshape(*self._lm_moment_blendshapes, coeffs)  # (1 + 2S, Q, 3)
            lm_rows, lm_bones, lm_mass = self._lm_moment_pairs
            rows_l = anchor_rows(self._skeleton, moments, lm_mass, lm_bones, lm_rows, len(LANDMARK_NAMES), T0)
            rows_j = rest_v.new_zeros(batch.shape[0], J, A, 4)
            rows_j[:, torch.arange(J), self._skeleton.bone_anchor] = torch.cat([heads, torch.ones_like(heads[..., :1])], -1)
            rows_l = rows_l + torch.einsum("lj,bjac->blac", self._lm_w_joints, rows_j)
            rows = torch.cat([rows_v, rows_l, rows_j], 1).reshape(batch.shape[0], -1, 4 * A)
            heads = heads[:, self._posed_bones[self._skeleton.posed_order]]  # the posed anchors' heads
        h = (plus - minus).diagonal().clamp_min(1e-9)  # (S,)

        def split(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            hs = h.reshape((S,) + (1,) * (x.ndim - 1))
            return x[0], (x[1 : 1 + S] - x[1 + S :]) / hs

        rows0, drows = split(rows)
        heads0, dheads = split(heads)
        return RestState(s0, index, rows0, drows, heads0, dheads)

    def _subset_blendshapes(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Template (n, 3) and blendshapes (K, n, 3) of the vertices ``index``, cached (the fit asks
        for the same subset at every refresh; the last few subsets are kept)."""
        key = index.numpy().tobytes()
        hit = self._subset_cache.get(key)
        if hit is None:
            m = self._anny
            # index_select: plain indexing along dim 1 of the (K, V, 3) blendshapes is much slower.
            hit = (m.template_vertices[index], torch.index_select(m.blendshapes, 1, index))
            if len(self._subset_cache) >= 4:
                self._subset_cache.pop(next(iter(self._subset_cache)))
            self._subset_cache[key] = hit
        return hit

    def _rest_bone_poses(self, coeffs: torch.Tensor) -> torch.Tensor:
        """(B, J, 4, 4) rest bone poses for blendshape coefficients, without the rest vertices."""
        m = self._anny
        if m.bone_orientation != "cached":
            return m.get_rest_model(coeffs)["rest_bone_poses"]
        import roma
        from anny.skinning.skinning import apply_linear_blendshape

        heads = apply_linear_blendshape(m.template_bone_heads, m.bone_heads_blendshapes, coeffs)
        M = m.bone_template_orientation_matrices[None] + torch.einsum("ba,akij->bkij", coeffs, m.bone_orientation_blendshapes)
        R = roma.special_procrustes(M)
        if m.rest_orientation_refiner is not None:
            R = m.rest_orientation_refiner(R, heads)
        if m.root_identity_orientation:
            eye = torch.eye(3, dtype=R.dtype).expand(R.shape[0], 1, 3, 3)
            R = torch.cat([eye, R[:, 1:]], 1)
        return roma.Rigid(linear=R, translation=heads).to_homogeneous()

    # ------------------------------------------------------------------ static data
    def _segmentation_labels(self) -> np.ndarray:
        """(V,) anny texture-segmentation label of each vertex (majority of its faces)."""
        import yaml
        from anny.face_segmentation import get_face_segmentation_mask
        from anny.paths import get_anny_root_dir

        meta_path = get_anny_root_dir() / "data/segmentation/body_parts_segmentation.yaml"
        with open(meta_path) as f:
            names = list(yaml.safe_load(f)["colors"].keys())
        F = self.faces.numpy()
        V = self._anny.template_vertices.shape[0]
        counts = np.zeros((V, len(names)), dtype=np.int64)
        for k, name in enumerate(names):
            fm = get_face_segmentation_mask(self._anny, [name]).cpu().numpy()
            for c in range(3):
                np.add.at(counts[:, k], F[fm, c], 1)
        labels = np.array(names, dtype=object)[counts.argmax(1)]
        labels[counts.sum(1) == 0] = "body"
        return labels

    def _compute_parts(self, v0: np.ndarray, j0: np.ndarray) -> torch.Tensor:
        """(V,) part labels: anny's segmentation for head/hands/feet, dominant bones elsewhere,
        and 'face' for the head's front (in front of the ears, from chin to brow)."""
        m = self._anny
        idx = {n: i for i, n in enumerate(PART_NAMES)}
        w = m.vertex_bone_weights.cpu().numpy()
        b = m.vertex_bone_indices.cpu().numpy()
        dominant = b[np.arange(len(b)), w.argmax(1)]
        parts = np.array([idx[_bone_part(self.joint_names[d])] for d in dominant], dtype=np.int64)
        lab = self._labels
        head = np.isin(lab, ("head",) + _INTERNAL_LABELS) | np.char.startswith(lab.astype(str), "eye_")
        parts[head] = idx["head"]
        parts[np.char.startswith(lab.astype(str), "hand")] = idx["hands"]
        parts[np.char.startswith(lab.astype(str), "foot")] = idx["feet"]
        # anny's head texture reaches down the neck: cut it at a plane from under the chin (front)
        # to the skull base (back); the neck belongs to the torso.
        kp = self._coco_model_frame(v0)
        nose, ear = kp["nose"], 0.5 * (kp["left_ear"] + kp["right_ear"])
        chin_y, base_y = nose[1] + 0.085, ear[1] + 0.035
        s = np.clip((v0[:, 2] - nose[2]) / (ear[2] - nose[2]), 0.0, 1.5)
        neck = head & (v0[:, 1] > chin_y + s * (base_y - chin_y))
        parts[neck] = idx["torso"]
        # Face: the rest of the head in front of the ears, below the brow.
        eye_y = 0.5 * (kp["left_eye"][1] + kp["right_eye"][1])
        half_width = 0.5 * abs(kp["left_ear"][0] - kp["right_ear"][0])
        front = v0[:, 2] < ear[2] - 0.3 * (ear[2] - nose[2])
        face = head & ~neck & front & (v0[:, 1] > eye_y - 0.045) & (np.abs(v0[:, 0]) < 0.95 * half_width)
        parts[face] = idx["face"]
        return torch.as_tensor(parts, dtype=torch.int64)

    def _coco_model_frame(self, v0: np.ndarray) -> dict[str, np.ndarray]:
        weights, labels = self._coco_weights()
        pts = weights.numpy() @ v0
        return dict(zip(labels, pts))

    def _coco_weights(self) -> tuple[torch.Tensor, list[str]]:
        from anny.keypoints import _load_keypoint_data
        from anny.paths import get_anny_root_dir

        weights, labels = _load_keypoint_data(self._anny, get_anny_root_dir() / "data/keypoints/coco.pth")
        return weights.to(self.dtype), labels

    def _build_landmarks(self, v0: torch.Tensor, j0: torch.Tensor) -> None:
        """Landmark regressor: landmarks = Wv @ vertices[lm_vertex_index] + Wj @ joints."""
        coco_w, coco_labels = self._coco_weights()
        kp = dict(zip(coco_labels, (coco_w @ v0).numpy()))
        V, J = v0.shape[0], j0.shape[0]
        Wv = torch.zeros(len(LANDMARK_NAMES), V, dtype=self.dtype)
        Wj = torch.zeros(len(LANDMARK_NAMES), J, dtype=self.dtype)
        face = torch.as_tensor(self.surface & (self.parts.numpy() == PART_NAMES.index("face")))
        face_idx = torch.nonzero(face).squeeze(1)
        face_v = v0[face_idx].numpy()
        ear_z = 0.5 * (kp["left_ear"][2] + kp["right_ear"][2])
        front = face_v[:, 2] < ear_z - 0.6 * (ear_z - kp["nose"][2])  # the front of the face only
        for i, name in enumerate(LANDMARK_NAMES):
            if name in _COCO_FOR_LANDMARK:
                Wv[i] = coco_w[coco_labels.index(_COCO_FOR_LANDMARK[name])]
            elif name in _BONE_FOR_LANDMARK:
                Wj[i, self.joint_names.index(_BONE_FOR_LANDMARK[name])] = 1.0
            else:
                ref, offset = _VERTEX_FOR_LANDMARK[name]
                target = kp[ref][:2] + np.asarray(offset)
                d = ((face_v[:, :2] - target) ** 2).sum(1) + np.where(front, 0.0, np.inf)
                Wv[i, face_idx[int(d.argmin())]] = 1.0
        # Sparse (landmark, bone) x support-vertex weights W[l, v] * s[v, j] for the moments.
        support = torch.nonzero(Wv.abs().sum(0) > 0).squeeze(1)
        Ws = Wv[:, support]  # (L, n_s)
        sw = self._anny.vertex_bone_weights[support].to(self.dtype)  # (n_s, k)
        sb = self._anny.vertex_bone_indices[support].long()  # (n_s, k)
        l_idx, v_idx = torch.nonzero(Ws, as_tuple=True)
        k = sw.shape[1]
        rows = (l_idx[:, None] * J + sb[v_idx]).reshape(-1)
        cols = v_idx[:, None].expand(-1, k).reshape(-1)
        vals = (Ws[l_idx, v_idx][:, None] * sw[v_idx]).reshape(-1)
        keep = vals != 0
        self._lm_support = support
        self._lm_nz_rows, self._lm_nz_cols, self._lm_nz_vals = rows[keep], cols[keep], vals[keep]
        mass = torch.zeros(len(LANDMARK_NAMES) * J, dtype=self.dtype).index_add(0, self._lm_nz_rows, self._lm_nz_vals)
        self._lm_bone_mass = mass.reshape(len(LANDMARK_NAMES), J)  # (L, J), rows sum to 1 or 0
        self._lm_mass = self._lm_bone_mass.sum(1)  # (L,) 1 for vertex landmarks, 0 for bone landmarks
        self._lm_w_joints = Wj
        # The nonzero (landmark, bone) moments as linear blendshapes (template (Q, 3), (K, Q, 3)),
        # for the fit's rest states: Q (landmark, bone, mass) entries.
        lm_rows, lm_bones = torch.nonzero(self._lm_bone_mass, as_tuple=True)
        self._lm_moment_pairs = (lm_rows, lm_bones, self._lm_bone_mass[lm_rows, lm_bones])
        m = self._anny
        pick = lm_rows * J + lm_bones
        template = self._landmark_moments(m.template_vertices[support][None].to(self.dtype))[0, pick]
        blend = [
            self._landmark_moments(torch.index_select(m.blendshapes, 1, support)[c : c + 8].to(self.dtype))[:, pick]
            for c in range(0, m.blendshapes.shape[0], 8)
        ]
        self._lm_moment_blendshapes = (template, torch.cat(blend))

    def _compute_hinge_axes(self, j0: torch.Tensor) -> torch.Tensor:
        """Flexion axes (model frame): knees bend the shin backward (+z), elbows the forearm forward."""
        axes = []
        for group in HINGE_GROUPS:
            side = group[-1]
            if group.startswith("knee"):
                upper = j0[self.joint_names.index(f"lowerleg01.{side}")] - j0[self.joint_names.index(f"upperleg01.{side}")]
                towards = torch.tensor([0.0, 0.0, 1.0], dtype=j0.dtype)
            else:
                upper = j0[self.joint_names.index(f"lowerarm01.{side}")] - j0[self.joint_names.index(f"upperarm01.{side}")]
                towards = torch.tensor([0.0, 0.0, -1.0], dtype=j0.dtype)
            axis = torch.linalg.cross(upper, towards)
            axes.append(axis / axis.norm())
        return torch.stack(axes).float()

    def bone_poses(self, params: BodyParams) -> torch.Tensor:
        """(..., J, 4, 4) float32 rigid frames (bone -> camera frame, metres) of every bone of
        :attr:`joint_names` for ``params``: translation = the bone head (``BodyOutput.joints``).
        Linear blend skinning moves a point bound in pose ``a`` to pose ``b`` with
        ``bone_poses(b) @ inverse(bone_poses(a))`` per bone and :meth:`skin_weights`."""
        shape = params.shape
        batch = shape.shape[:-1]
        flat = lambda t: t.reshape((-1,) + tuple(t.shape[len(batch):])).to(self.dtype)
        one = torch.zeros(1, dtype=torch.int64)  # skin one vertex only: the bones are what we want
        poses = self._forward_model_frame(flat(shape), flat(params.body_pose), one, bone_frames=True)["bone_poses"]
        world = torch.eye(4, dtype=self.dtype).repeat(poses.shape[0], 1, 1)
        world[:, :3, :3] = axis_angle_to_matrix(flat(params.global_orient))
        world[:, :3, 3] = flat(params.translation)
        return (world[:, None] @ poses).reshape(batch + poses.shape[1:]).float()

    @property
    def bone_parents(self) -> tuple[int, ...]:
        """J parent indices into :attr:`joint_names` (-1 for the root)."""
        return tuple(int(p) for p in self._anny.bone_parents)

    def skin_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Sparse skinning weights of the V vertices: (V, k) float32 weights (rows sum to 1) and
        (V, k) int64 bone indices into :attr:`joint_names`."""
        return self._anny.vertex_bone_weights.float().clone(), self._anny.vertex_bone_indices.long().clone()

    def reference_height(self, shape: torch.Tensor | None = None) -> float:
        """Standing height (metres) of the reference pose for ``shape`` (S,) (default shape)."""
        with torch.no_grad():
            s = (self.default_shape() if shape is None else shape).reshape(1, -1)
            v = self._forward_model_frame(s, None, None)["vertices"][0]
        return float(v[:, 1].max() - v[:, 1].min())
