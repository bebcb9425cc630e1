"""The face's relief from Face Mesh's relative depths (``prior_mode/face_relief.py``).

An analytic face (an ellipsoid with a nose bump, 9 rings of points around the nose tip, triangulated
in its own parameters) is put 0.45 m in front of a known camera, facing it or turned by 35 degrees.
Its points are given as Face Mesh gives them: pixels (u, v) and a relative depth z scaled like u at the
face's distance. The head's surface under the face is the same ellipsoid without the nose. The relief
must give back the true camera depths within a few millimetres, the nose in front of the cheeks.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from humansplat.cameras import Cameras
from humansplat.prior.landmarks import FACE_LANDMARK_COUNT, FACE_OVAL, Landmarks
from humansplat.prior_mode.face_relief import FaceTopology, apply_relief, face_mesh_topology, face_relief
from humansplat.render.mesh import rasterize_mesh

_S = 160
_DISTANCE_M = 0.45
_SEMI = np.array([0.08, 0.11, 0.09])  # the ellipsoid's semi-axes (x, y, z), metres
_NOSE_M, _NOSE_SIGMA_M = 0.025, 0.012
_RINGS, _SPOKES = 9, 24


def _face_points(extent: float, nose: bool) -> tuple[np.ndarray, np.ndarray]:
    """((n, 3) points in the face's frame (x right, y down, z away; the front at z = 0), (n, 2) their
    parameters) on rings out to ``extent`` x (0.07 m, 0.095 m) around the nose tip (point 0)."""
    radii = np.linspace(0.0, extent, _RINGS + 1)[1:]
    angles = np.linspace(0.0, 2 * np.pi, _SPOKES, endpoint=False)
    params = np.concatenate([[[0.0, 0.0]], np.stack([np.outer(radii, np.cos(angles)).ravel(), np.outer(radii, np.sin(angles)).ravel()], -1)])
    x, y = 0.07 * params[:, 0], 0.095 * params[:, 1]
    z = _SEMI[2] * (1.0 - np.sqrt(np.clip(1.0 - (x / _SEMI[0]) ** 2 - (y / _SEMI[1]) ** 2, 0.0, None)))
    if nose:
        z = z - _NOSE_M * np.exp(-(x**2 + y**2) / (2 * _NOSE_SIGMA_M**2))
    return np.stack([x, y, z], -1), params


def _triangles(params: np.ndarray) -> np.ndarray:
    from scipy.spatial import Delaunay

    return Delaunay(params).simplices.astype(np.int64)


def _ring(k: int) -> list[int]:
    """Indices of ring ``k`` (1 = innermost, :data:`_RINGS` = the rim)."""
    return list(range(1 + (k - 1) * _SPOKES, 1 + k * _SPOKES))


def _in_camera(points: np.ndarray, yaw_deg: float) -> np.ndarray:
    """Face-frame points turned by ``yaw_deg`` about the vertical and put ``_DISTANCE_M`` in front of the camera."""
    a = np.radians(yaw_deg)
    rot = np.array([[np.cos(a), 0.0, np.sin(a)], [0.0, 1.0, 0.0], [-np.sin(a), 0.0, np.cos(a)]])
    return points @ rot.T + np.array([0.0, 0.0, _DISTANCE_M])


def _raster(points: np.ndarray, triangles: np.ndarray, camera: Cameras) -> tuple[np.ndarray, np.ndarray]:
    r = rasterize_mesh(torch.from_numpy(points).float(), torch.from_numpy(triangles), camera)
    return r.depth.double().numpy(), r.coverage.numpy()


@pytest.fixture(params=[0.0, 35.0], ids=["frontal", "turned"])
def scene(request):
    """(face points (n, 3) (u, v, z) px, true camera depths (n,), topology, camera, head surface, mask, true depth map)."""
    yaw = request.param
    camera = Cameras.from_fov(30.0, _S, _S)
    focal = float(camera.Ks[0, 0, 0])
    face, params = _face_points(1.0, nose=True)
    tris = _triangles(params)
    truth = _in_camera(face, yaw)
    uv = camera.project(torch.from_numpy(truth).float())[0][0].double().numpy()
    ref = float(np.median(truth[:, 2]))
    z_px = (truth[:, 2] - ref) * focal / ref  # Face Mesh's z: relative, scaled like u at the face's distance
    head, head_params = _face_points(1.3, nose=False)  # the head around the face, without the nose
    surface, mask = _raster(_in_camera(head, yaw), _triangles(head_params), camera)
    true_map, _ = _raster(truth, tris, camera)
    spoke = _SPOKES // 2 if yaw > 0 else 0  # the cheek nearer the camera when turned
    cheeks = (_ring(5)[spoke],) if yaw > 0 else (_ring(5)[0], _ring(5)[_SPOKES // 2])
    topology = FaceTopology(triangles=tris, rim=tuple(_ring(_RINGS)), nose_tip=0, cheeks=cheeks)
    return np.concatenate([uv, z_px[:, None]], -1), truth[:, 2], topology, camera, np.where(mask, surface, 0.0), mask, true_map


def test_relief_gives_back_the_metric_depths_of_a_known_face(scene):
    face, depth, topology, camera, surface, mask, true_map = scene
    relief = face_relief(face, camera, surface, mask, topology)
    assert relief is not None
    uv = face[:, :2]
    # the points the face itself shows (a turned face hides part of its far side behind the nose)
    seen_depth = true_map[np.floor(uv[:, 1]).astype(int), np.floor(uv[:, 0]).astype(int)]
    seen = np.abs(seen_depth - depth) < 0.003
    err = np.abs(relief.point_depth - depth)[seen]
    assert np.median(err) < 0.002 and err.max() < 0.005, f"point depth error median {np.median(err):.4f} max {err.max():.4f} m"
    full = relief.weight > 0.999
    assert full.sum() > 2000
    err_map = np.abs(relief.depth - true_map)[full]
    assert np.quantile(err_map, 0.95) < 0.004, f"depth map error (95 %) {np.quantile(err_map, 0.95):.4f} m"
    true_nose = float(np.mean(depth[list(topology.cheeks)]) - depth[topology.nose_tip])
    assert 0.015 < relief.nose_in_front_m and abs(relief.nose_in_front_m - true_nose) < 0.003, (
        f"nose {relief.nose_in_front_m:.4f} m in front of the cheeks, truth {true_nose:.4f} m"
    )


def test_relief_blends_into_the_head_at_the_faces_edge(scene):
    face, _, topology, camera, surface, mask, _ = scene
    relief = face_relief(face, camera, surface, mask, topology)
    from scipy.ndimage import binary_dilation

    region = relief.weight > 0
    edge = region & binary_dilation(mask & ~region)  # face pixels beside the rest of the head
    assert edge.any() and relief.weight[edge].max() < 0.1
    assert relief.weight.max() == pytest.approx(1.0)
    blended = apply_relief(relief, surface)
    np.testing.assert_array_equal(blended[~region], surface[~region])
    inner = relief.weight == 1.0
    np.testing.assert_allclose(blended[inner], relief.depth[inner])


def test_relief_needs_the_face_on_the_head(scene):
    face, _, topology, camera, surface, mask, _ = scene
    assert face_relief(face, camera, surface, np.zeros_like(mask), topology) is None
    with pytest.raises(ValueError, match=r"\(n, 3\)"):
        face_relief(face[:, :2], camera, surface, mask, topology)


def test_landmarks_transformed_scales_the_faces_depth():
    face = np.array([[10.0, 20.0, -4.0]] * FACE_LANDMARK_COUNT, dtype=np.float32)
    lm = Landmarks(body=np.zeros((33, 2), np.float32), body_confidence=np.ones(33, np.float32), face=face)
    out = lm.transformed(2.0, 4.0, 5.0)
    np.testing.assert_allclose(out.face[0], [12.0, 30.0, -8.0])
    np.testing.assert_allclose(lm.transformed(0.5, 0.0, 0.0).face[:, :2], face[:, :2] * 0.5)


def test_face_mesh_topology_covers_the_468_points():
    pytest.importorskip("mediapipe")
    topo = face_mesh_topology()
    assert topo.triangles.shape[1] == 3 and 800 < len(topo.triangles) < 1000
    assert topo.triangles.min() == 0 and topo.triangles.max() == FACE_LANDMARK_COUNT - 1
    assert set(FACE_OVAL) <= set(topo.rim) and set(FACE_OVAL) <= set(topo.triangles.ravel().tolist())
    assert topo.nose_tip not in topo.rim
