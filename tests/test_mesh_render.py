"""The one mesh rasteriser (humansplat.render.mesh): coverage, depth, barycentrics, textures, parts."""

from __future__ import annotations

import math

import pytest
import torch

from humansplat.cameras import Cameras
from humansplat.render.mesh import (
    TexturedMesh,
    face_parts,
    interpolate,
    rasterize_mesh,
    render_mesh,
    sample_texture,
)
from humansplat.objectives import part_masks

QUAD_FACES = torch.tensor([[0, 1, 2], [0, 2, 3]])


def screen_quad(cam: Cameras, z: float, u0: float, u1: float, v0: float, v1: float) -> torch.Tensor:
    """(4, 3) corners at depth ``z`` of the fronto-parallel quad whose image is [u0, u1] x [v0, v1]
    (identity extrinsics; corners in the order top-left, top-right, bottom-right, bottom-left)."""
    K = cam.Ks[0]
    us = (torch.tensor([u0, u1, u1, u0]) - K[0, 2]) / K[0, 0]
    vs = (torch.tensor([v0, v0, v1, v1]) - K[1, 2]) / K[1, 1]
    return torch.stack([us * z, vs * z, torch.full((4,), z)], -1)


def tilted_plane(cam: Cameras) -> tuple[torch.Tensor, torch.Tensor, float]:
    """A quad on the plane n . x = d, strongly tilted away from the camera; returns (corners, n, d)."""
    n = torch.nn.functional.normalize(torch.tensor([0.5, -0.3, 1.0]), dim=0)
    d = 2.0
    base = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]]) * 0.6
    x, y = base[:, 0], base[:, 1]
    z = (d - n[0] * x - n[1] * y) / n[2]
    return torch.stack([x, y, z], -1), n, d


@pytest.fixture(scope="module")
def body():
    """The anny body of a synthetic person (module-scoped: one body-model load)."""
    from humansplat.prior.synthetic import make_synthetic_person

    return make_synthetic_person(seed=3, size=128).as_body_fit()


# ------------------------------------------------------------------------------------ rasteriser
def test_square_coverage_and_depth_order():
    cam = Cameras.from_fov(60.0, 64, 48)
    far = screen_quad(cam, 2.0, 16, 48, 8, 40)
    near = screen_quad(cam, 1.0, 0, 24, 0, 24)
    verts = torch.cat([far, near])
    faces = torch.cat([QUAD_FACES, QUAD_FACES + 4])
    r = rasterize_mesh(verts, faces, cam)
    assert r.face_id.shape == (48, 64) and r.depth.shape == (48, 64) and r.bary.shape == (48, 64, 3)
    far_px = torch.zeros(48, 64, dtype=torch.bool)
    far_px[8:40, 16:48] = True
    near_px = torch.zeros(48, 64, dtype=torch.bool)
    near_px[0:24, 0:24] = True
    assert torch.equal(r.coverage, far_px | near_px)
    torch.testing.assert_close(r.depth[near_px], torch.ones(int(near_px.sum())))  # the nearer square wins
    torch.testing.assert_close(r.depth[far_px & ~near_px], torch.full((int((far_px & ~near_px).sum()),), 2.0))
    assert set(r.face_id[near_px].tolist()) == {2, 3}
    torch.testing.assert_close(r.bary[r.coverage].sum(-1), torch.ones(int(r.coverage.sum())))
    assert bool(torch.isinf(r.depth[~r.coverage]).all()) and float(r.bary[~r.coverage].abs().max()) == 0.0


def test_tiny_triangle_covers_the_pixel_where_project_says():
    cam = Cameras.orbit([0.1, -0.2, 2.5], 2.0, [35.0], [20.0], fov_y_deg=40.0, width=80, height=60)
    cam = cam.crop(3.0, -2.0, 70, 64)  # an off-centre principal point
    R = cam.viewmats[0, :3, :3]
    for i, j in ((5, 7), (31, 40), (60, 2), (12, 66)):
        target = torch.tensor([j + 0.5 + 0.05, i + 0.5 - 0.05])
        origin, direction = cam.rays(target[None])
        P = origin[0, 0] + 2.3 * direction[0, 0]
        uv, depth = cam.project(P[None])
        torch.testing.assert_close(uv[0, 0], target, atol=1e-3, rtol=0)
        eps = 0.6 * float(depth[0, 0]) / float(cam.Ks[0, 0, 0])  # ~0.6 px in the image
        right, down = R[0], R[1]
        tri = torch.stack([P + eps * right, P + eps * down, P - eps * (right + down)])
        r = rasterize_mesh(tri, torch.tensor([[0, 1, 2]]), cam)
        assert torch.nonzero(r.coverage).tolist() == [[i, j]]
        assert abs(float(r.depth[i, j]) - float(depth[0, 0])) < 1e-3


def test_depth_is_the_analytic_plane_depth_and_barycentrics_are_perspective_correct():
    cam = Cameras.from_fov(50.0, 96, 80)
    corners, n, d = tilted_plane(cam)
    r = rasterize_mesh(corners, QUAD_FACES, cam)
    cov = r.coverage
    assert int(cov.sum()) > 1500
    uv = cam.pixel_grid()[cov]  # (n, 2) pixel centres
    rays = torch.cat([(uv - cam.Ks[0, :2, 2]) / cam.Ks[0, [0, 1], [0, 1]], torch.ones(len(uv), 1)], -1)  # z = 1
    analytic = d / (rays @ n)
    torch.testing.assert_close(r.depth[cov], analytic, atol=1e-5, rtol=1e-5)
    # a world-linear attribute (the position itself) interpolates exactly: it lies on each pixel's ray
    pos = interpolate(r, QUAD_FACES, corners)[cov]
    torch.testing.assert_close(pos, rays * analytic[:, None], atol=1e-5, rtol=1e-5)
    # per-corner values give the same as per-vertex ones
    torch.testing.assert_close(interpolate(r, QUAD_FACES, corners[QUAD_FACES])[cov], pos)


def test_near_plane_clipping_keeps_the_visible_part():
    """A floor y = 0.5 from z = -1 (behind the camera) to z = 4: the part in front of the near plane
    is drawn (the old rasteriser dropped such triangles), with exact depths."""
    cam = Cameras.from_fov(90.0, 64, 64)
    near = 0.8  # cuts the floor at image row ~52
    floor = torch.tensor([[-3.0, 0.5, -1.0], [3.0, 0.5, -1.0], [3.0, 0.5, 4.0], [-3.0, 0.5, 4.0]])
    r = rasterize_mesh(floor, QUAD_FACES, cam, near=near)
    uv = cam.pixel_grid()
    dx = (uv[..., 0] - 32.0) / float(cam.Ks[0, 0, 0])
    dy = (uv[..., 1] - 32.0) / float(cam.Ks[0, 1, 1])
    z = 0.5 / dy.clamp_min(1e-9)  # depth of the floor along each pixel ray (dy > 0: below the horizon)
    x = dx * z
    expected = (dy > 0) & (z >= near) & (z <= 4.0) & (x.abs() <= 3.0)
    clear = (dy > 0) & ((z - near).abs() > 1e-3) & ((z - 4.0).abs() > 1e-2) & ((x.abs() - 3.0).abs() > 1e-2)
    assert int(expected.sum()) > 800
    assert torch.equal(r.coverage[clear | ~(dy > 0)], expected[clear | ~(dy > 0)])
    torch.testing.assert_close(r.depth[expected & clear], z[expected & clear], atol=1e-4, rtol=1e-5)
    pos = interpolate(r, QUAD_FACES, floor)[r.coverage]  # barycentrics refer to the whole faces
    torch.testing.assert_close(pos[:, 1], torch.full((len(pos),), 0.5), atol=1e-5, rtol=0)
    assert float(r.bary[r.coverage].min()) >= -1e-6


def test_empty_and_behind_the_camera_meshes_give_empty_rasters():
    cam = Cameras.from_fov(40.0, 32, 24)
    for verts, faces in (
        (torch.zeros(0, 3), torch.zeros(0, 3, dtype=torch.long)),
        (torch.tensor([[0.0, 0.0, -1.0], [1.0, 0.0, -1.0], [0.0, 1.0, -2.0]]), torch.tensor([[0, 1, 2]])),
        (torch.tensor([[0.0, 0.0, 2.0], [1.0, 1.0, 2.0], [2.0, 2.0, 2.0]]), torch.tensor([[0, 1, 2]])),  # degenerate
    ):
        r = rasterize_mesh(verts, faces, cam)
        assert not bool(r.coverage.any()) and bool(torch.isinf(r.depth).all()) and r.face_id.shape == (24, 32)
        out = render_mesh(TexturedMesh(verts, faces), cam, background=(0.2, 0.4, 0.6))
        assert float(out.alpha.max()) == 0.0
        torch.testing.assert_close(out.rgb[0, 5, 7], torch.tensor([0.2, 0.4, 0.6]))


def test_batching_does_not_change_the_result():
    cam = Cameras.from_fov(50.0, 96, 80)
    corners, _, _ = tilted_plane(cam)
    small = screen_quad(cam, 1.5, 10.2, 13.7, 60.1, 62.9)
    verts, faces = torch.cat([corners, small]), torch.cat([QUAD_FACES, QUAD_FACES + 4])
    a = rasterize_mesh(verts, faces, cam)
    b = rasterize_mesh(verts, faces, cam, max_samples=50)  # large triangles tested in many batches
    assert torch.equal(a.face_id, b.face_id) and torch.equal(a.depth, b.depth) and torch.equal(a.bary, b.bary)


def test_agrees_with_the_former_numpy_rasteriser_on_a_body(body):
    from _reference_mesh_raster import reference_rasterize_mesh

    centre = body.vertices.mean(0)
    orbit = Cameras.orbit(centre, float(centre.norm()), [90.0, 200.0], 15.0, fov_y_deg=40.0, width=96, height=96)
    cams = Cameras.cat([body.camera.resize(96, 96), orbit])
    for c in range(len(cams)):
        new = rasterize_mesh(body.vertices, body.faces, cams[c])
        ref = reference_rasterize_mesh(body.vertices, body.faces, cams[c])
        cov = new.coverage
        assert int(cov.sum()) > 500
        assert float((cov == ref.coverage).float().mean()) >= 0.995
        both = cov & ref.coverage
        torch.testing.assert_close(new.depth[both], ref.depth[both], atol=1e-5, rtol=0)
        assert float((new.face_id[both] == ref.face_id[both]).float().mean()) >= 0.99


# ------------------------------------------------------------------------------------ render_mesh
def test_textured_quad_shows_the_right_texel():
    cam = Cameras.from_fov(45.0, 64, 64)
    Ht = Wt = 4
    texture = torch.rand(Ht, Wt, 3, generator=torch.Generator().manual_seed(0))  # a distinct colour per texel
    # the quad's image is [15.5, 47.5]^2: texel (i, j) spans 8 x 8 pixels, its centre at pixel (19 + 8i, 19 + 8j)
    verts = screen_quad(cam, 2.0, 15.5, 47.5, 15.5, 47.5)
    uvs = torch.tensor([[0.0, 1.0], [1.0, 1.0], [1.0, 0.0], [0.0, 0.0]])  # v up: the top row is v = 1
    mesh = TexturedMesh(verts, QUAD_FACES, uvs=uvs, texture=texture)
    out = render_mesh(mesh, cam, supersample=1, background=0.0)
    for i in range(Ht):
        for j in range(Wt):
            torch.testing.assert_close(out.rgb[0, 19 + 8 * i, 19 + 8 * j], texture[i, j], atol=1e-5, rtol=0)
    assert float(out.alpha[0, 16:47, 16:47].min()) == 1.0 and float(out.alpha[0, :15].max()) == 0.0
    # per-corner texture coordinates (face_uvs) and texel-centre look-ups agree
    split = TexturedMesh(verts, QUAD_FACES, uvs=uvs, face_uvs=QUAD_FACES, texture=texture)
    torch.testing.assert_close(render_mesh(split, cam, supersample=1).rgb[0, 30:40, 30:40], out.rgb[0, 30:40, 30:40])
    centres = torch.tensor([[(j + 0.5) / Wt, 1.0 - (i + 0.5) / Ht] for i in range(Ht) for j in range(Wt)])
    torch.testing.assert_close(sample_texture(texture, centres), texture.reshape(-1, 3))


def test_vertex_colours_blend_with_screen_barycentrics():
    cam = Cameras.from_fov(45.0, 48, 48)
    tri = screen_quad(cam, 1.0, 6.0, 40.0, 4.0, 44.0)[[0, 1, 3]]  # image corners (6, 4), (40, 4), (6, 44)
    colours = torch.eye(3)
    out = render_mesh(TexturedMesh(tri, torch.tensor([[0, 1, 2]]), vertex_colors=colours), cam, supersample=1)
    i, j = 14, 16  # pixel centre (16.5, 14.5): screen barycentrics of a fronto-parallel triangle
    b1, b2 = (16.5 - 6.0) / 34.0, (14.5 - 4.0) / 40.0
    torch.testing.assert_close(out.rgb[0, i, j], torch.tensor([1 - b1 - b2, b1, b2]), atol=1e-5, rtol=0)
    assert float(out.depth[0, i, j]) == pytest.approx(1.0, abs=1e-5)
    torch.testing.assert_close(out.normal[0, i, j], torch.tensor([0.0, 0.0, -1.0]), atol=1e-5, rtol=0)  # facing us


def test_supersampled_alpha_is_fractional_on_an_edge():
    cam = Cameras.from_fov(45.0, 64, 64)
    verts = screen_quad(cam, 2.0, 10.0, 32.3, 10.0, 50.0)  # the right edge crosses pixel column 32
    mesh = TexturedMesh(verts, QUAD_FACES, vertex_colors=torch.zeros(4, 3))
    for s, share in ((1, 0.0), (2, 0.5), (3, 1 / 3), (4, 0.25)):  # samples at 32 + (k + 0.5) / s left of 32.3
        out = render_mesh(mesh, cam, supersample=s, background=1.0)
        torch.testing.assert_close(out.alpha[0, 20:40, 32], torch.full((20,), share))
        torch.testing.assert_close(out.rgb[0, 20:40, 32, 0], torch.full((20,), 1.0 - share))  # black over white
        assert float(out.alpha[0, 20:40, 11:32].min()) == 1.0 and float(out.alpha[0, 20:40, 33:].max()) == 0.0


def test_part_masks_partition_the_alpha_and_follow_face_parts(body):
    cam = body.camera.resize(64, 64)
    mesh = TexturedMesh(body.vertices, body.faces, parts=body.parts)
    out = render_mesh(mesh, cam, supersample=2)
    assert out.parts.shape == (1, 7, 64, 64)
    torch.testing.assert_close(out.parts.sum(1), out.alpha)
    # at supersample 1 each covered pixel carries exactly its front-most triangle's face_parts label
    hard = render_mesh(mesh, cam, supersample=1).parts[0]
    r = rasterize_mesh(body.vertices, body.faces, cam)
    labels = face_parts(body.faces, body.parts)[r.face_id[r.coverage]]
    assert torch.equal(hard.argmax(0)[r.coverage], labels) and set(torch.unique(hard).tolist()) == {0.0, 1.0}
    torch.testing.assert_close(part_masks(body, cam, supersample=2), out.parts)  # the loss uses the same rule


def test_head_light_shading_and_bad_inputs():
    cam = Cameras.from_fov(45.0, 32, 32)
    verts, _, _ = tilted_plane(cam)
    mesh = TexturedMesh(verts, QUAD_FACES, vertex_colors=torch.ones(4, 3))
    flat = render_mesh(mesh, cam, supersample=1, ambient=1.0)
    lit = render_mesh(mesh, cam, supersample=1, ambient=0.0)
    cov = flat.alpha[0] > 0
    assert float(flat.rgb[0][cov].min()) == pytest.approx(1.0, abs=1e-6)
    cosine = -(lit.normal[0][cov] * torch.nn.functional.normalize(torch.tensor([0.5, -0.3, 1.0]), dim=0)).sum(-1)
    assert float(cosine.min()) > 0.99  # the normal faces the camera (flipped towards it)
    shade = lit.rgb[0][cov][:, 0]
    assert 0.5 < float(shade.min()) < float(shade.max()) < 1.0  # |cos(normal, view ray)| varies over the plane

    with pytest.raises(ValueError, match=r"vertices must be \(V, 3\)"):
        rasterize_mesh(torch.zeros(4, 2), QUAD_FACES, cam)
    with pytest.raises(ValueError, match=r"face indices must lie in \[0, 3\)"):
        rasterize_mesh(torch.zeros(3, 3), QUAD_FACES, cam)
    with pytest.raises(ValueError, match="near must be > 0"):
        rasterize_mesh(verts, QUAD_FACES, cam, near=0.0)
    with pytest.raises(ValueError, match="supersample must be >= 1"):
        render_mesh(mesh, cam, supersample=0)
    with pytest.raises(ValueError, match=r"vertex_colors must be \(V, 3\)"):
        TexturedMesh(verts, QUAD_FACES, vertex_colors=torch.ones(3, 3))
    with pytest.raises(ValueError, match=r"per-vertex uvs need T = V = 4"):
        TexturedMesh(verts, QUAD_FACES, uvs=torch.zeros(3, 2), texture=torch.zeros(2, 2, 3))
    with pytest.raises(ValueError, match="face_uvs must index the 4 uvs"):
        TexturedMesh(verts, QUAD_FACES, uvs=torch.zeros(4, 2), face_uvs=QUAD_FACES + 1, texture=torch.zeros(2, 2, 3))
    with pytest.raises(ValueError, match=r"part labels must lie in \[0, 2\)"):
        render_mesh(TexturedMesh(verts, QUAD_FACES, parts=torch.tensor([0, 1, 2, 0])), cam, num_parts=2)
    r = rasterize_mesh(verts, QUAD_FACES, cam)
    with pytest.raises(ValueError, match=r"per corner \(F, 3, D\)"):
        interpolate(r, QUAD_FACES, torch.zeros(5, 2, 3))
    assert math.isfinite(float(r.depth[r.coverage].max()))
