"""3DGS .ply and .splat files (humansplat.io.ply)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _fixtures_r import fields, make_gaussians
from plyfile import PlyData, PlyElement

from humansplat.errors import InputError
from humansplat.gaussians import Gaussians
from humansplat.io.ply import load_ply, load_splat, ply_property_names, save_ply, save_splat


@pytest.mark.parametrize("k", [0, 3, 15])
def test_ply_round_trip_is_bit_exact(tmp_path, k):
    g = make_gaussians(50, k)
    path = save_ply(g, tmp_path / "scene.ply")
    back = load_ply(path)
    for a, b in zip(fields(g), fields(back)):
        assert b.dtype == torch.float32 and torch.equal(a, b)


def test_ply_header_layout_and_channel_major_f_rest(tmp_path):
    g = make_gaussians(7, 3)
    path = save_ply(g, tmp_path / "scene.ply")
    raw = path.read_bytes()
    header = raw[: raw.index(b"end_header\n")].decode("ascii").splitlines()
    assert header[0] == "ply" and header[1] == "format binary_little_endian 1.0"
    assert "element vertex 7" in header
    props = [line.split() for line in header if line.startswith("property")]
    assert all(p[1] == "float" for p in props)
    assert [p[2] for p in props] == ply_property_names(9)
    assert [p[2] for p in props][:9] == ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
    assert [p[2] for p in props][-8:] == ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"]
    body = np.frombuffer(raw[len(raw) - 7 * 4 * len(props):], dtype="<f4").reshape(7, len(props))
    v = PlyData.read(str(path))["vertex"].data
    assert np.array_equal(body[:, 0], v["x"])
    # f_rest_{c*K + k} = shN[:, k, c] (the original 3DGS code's transpose(1, 2).flatten()).
    for c in range(3):
        for kk in range(3):
            assert np.array_equal(v[f"f_rest_{c * 3 + kk}"], g.shN[:, kk, c].numpy())
    assert np.array_equal(v["opacity"], g.logit_opacities.numpy())  # stored raw (logit)
    assert np.array_equal(v["scale_1"], g.log_scales[:, 1].numpy())  # stored raw (log)
    assert np.array_equal(v["rot_0"], g.quats[:, 0].numpy())  # w first
    assert np.all(v["nx"] == 0)


def test_reads_files_from_other_tools_any_order_extra_props_float64_ascii(tmp_path):
    g = make_gaussians(6, 3, seed=4)
    names = ply_property_names(9)
    values = {
        "x": g.means[:, 0], "y": g.means[:, 1], "z": g.means[:, 2],
        "f_dc_0": g.sh0[:, 0], "f_dc_1": g.sh0[:, 1], "f_dc_2": g.sh0[:, 2],
        "opacity": g.logit_opacities,
        "scale_0": g.log_scales[:, 0], "scale_1": g.log_scales[:, 1], "scale_2": g.log_scales[:, 2],
        "rot_0": g.quats[:, 0], "rot_1": g.quats[:, 1], "rot_2": g.quats[:, 2], "rot_3": g.quats[:, 3],
    }
    rest = g.shN.transpose(1, 2).reshape(6, 9)
    values.update({f"f_rest_{i}": rest[:, i] for i in range(9)})
    # Another tool: reversed property order, float64, extra properties, no normals, two elements.
    order = [n for n in reversed(names) if n not in ("nx", "ny", "nz")] + ["red", "confidence"]
    dtype = [(n, "u1" if n == "red" else "<f8") for n in order]
    vertex = np.zeros(6, dtype=dtype)
    for n in order:
        if n in values:
            vertex[n] = values[n].double().numpy()
    vertex["red"] = 200
    extra = PlyElement.describe(np.zeros(2, dtype=[("a", "i4")]), "camera")
    for text, order_kw in ((False, {"byte_order": ">"}), (True, {})):
        path = tmp_path / f"other_{text}.ply"
        PlyData([extra, PlyElement.describe(vertex, "vertex")], text=text, **order_kw).write(str(path))
        back = load_ply(path)
        for a, b in zip(fields(g), fields(back)):
            assert b.dtype == torch.float32
            assert torch.allclose(a, b, atol=1e-6 if text else 0.0, rtol=1e-6 if text else 0.0)


def test_load_ply_errors_name_the_problem(tmp_path):
    bad = tmp_path / "points.ply"
    PlyData([PlyElement.describe(np.zeros(3, dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4")]), "vertex")]).write(str(bad))
    with pytest.raises(InputError, match=r"missing properties \['f_dc_0'"):
        load_ply(bad)
    garbage = tmp_path / "garbage.ply"
    garbage.write_bytes(b"not a ply at all")
    with pytest.raises(InputError, match="cannot read"):
        load_ply(garbage)
    compressed = tmp_path / "compressed.ply"
    PlyData([PlyElement.describe(np.zeros(1, dtype=[("min_x", "<f4")]), "chunk")]).write(str(compressed))
    with pytest.raises(InputError, match="compressed SuperSplat"):
        load_ply(compressed)


def test_splat_size_order_and_approximate_round_trip(tmp_path):
    g = Gaussians.from_activated(
        means=torch.randn(20, 3),
        scales=torch.rand(20, 3) * 0.05 + 0.001,
        quats=torch.randn(20, 4),
        opacities=torch.rand(20) * 0.9 + 0.05,
        rgb=torch.rand(20, 3),
    )
    path = save_splat(g, tmp_path / "scene.splat")
    raw = path.read_bytes()
    assert len(raw) == 32 * 20
    rec = np.frombuffer(raw, dtype=[("p", "<f4", 3), ("s", "<f4", 3), ("c", "u1", 4), ("r", "u1", 4)])
    importance = rec["s"].prod(axis=1) * (rec["c"][:, 3] / 255.0)
    assert np.all(np.diff(importance) <= 1e-12)  # largest first
    back = load_splat(path)
    order = torch.argsort(g.scales.prod(1) * g.opacities, descending=True)
    assert torch.equal(back.means, g.means[order])
    assert torch.allclose(back.scales, g.scales[order], rtol=1e-4)
    assert torch.allclose(back.rgb, g.rgb[order], atol=1 / 255)
    assert torch.allclose(back.opacities, g.opacities[order], atol=1 / 255)
    q0, q1 = back.normalized_quats(), g.normalized_quats()[order]
    assert torch.all((q0 * q1).sum(-1).abs() > 0.99)  # same rotation up to 8-bit rounding
    (tmp_path / "bad.splat").write_bytes(b"x" * 33)
    with pytest.raises(InputError, match="multiple of 32"):
        load_splat(tmp_path / "bad.splat")
