"""Gaussians container: activations, validation, cat/select/prune/to/bbox (humansplat.gaussians)."""

from __future__ import annotations

import pytest
import torch
from _fixtures_r import make_gaussians

from humansplat.gaussians import SH_C0, Gaussians, rgb_to_sh0, sh0_to_rgb


def test_from_activated_inverts_the_activations():
    g = torch.Generator().manual_seed(1)
    scales = torch.rand(5, 3, generator=g) * 0.1 + 1e-3
    opac = torch.rand(5, generator=g) * 0.9 + 0.05
    rgb = torch.rand(5, 3, generator=g)
    quats = torch.randn(5, 4, generator=g)
    gs = Gaussians.from_activated(torch.zeros(5, 3), scales, quats, opac, rgb)
    assert torch.allclose(gs.scales, scales, rtol=1e-5)
    assert torch.allclose(gs.opacities, opac, atol=1e-6)
    assert torch.allclose(gs.rgb, rgb, atol=1e-6)
    assert torch.allclose(gs.normalized_quats().norm(dim=-1), torch.ones(5))
    assert gs.sh_degree == 0 and gs.sh.shape == (5, 1, 3)
    assert torch.allclose(sh0_to_rgb(rgb_to_sh0(rgb)), rgb, atol=1e-6)
    assert rgb_to_sh0(torch.tensor([0.5 + SH_C0])).item() == pytest.approx(1.0)
    # Opacities of exactly 0 or 1 are clamped away from the logit's poles.
    edge = Gaussians.from_activated(torch.zeros(2, 3), scales[:2], quats[:2], torch.tensor([0.0, 1.0]), rgb[:2])
    assert torch.isfinite(edge.logit_opacities).all()


@pytest.mark.parametrize("k, degree", [(0, 0), (3, 1), (8, 2), (15, 3)])
def test_sh_degree_follows_shN(k, degree):
    gs = make_gaussians(4, k)
    assert gs.sh_degree == degree and gs.sh.shape == (4, k + 1, 3)
    assert torch.equal(gs.sh[:, 0], gs.sh0)


def test_validation_messages_quote_the_bad_shape():
    gs = make_gaussians(3)
    with pytest.raises(ValueError, match=r"Gaussians.quats must have shape \(3, 4\), got \(3, 3\)"):
        Gaussians(gs.means, gs.log_scales, gs.quats[:, :3], gs.logit_opacities, gs.sh0, gs.shN)
    with pytest.raises(ValueError, match="expected 0, 3, 8 or 15"):
        Gaussians(gs.means, gs.log_scales, gs.quats, gs.logit_opacities, gs.sh0, torch.zeros(3, 5, 3))
    with pytest.raises(ValueError, match="boolean mask"):
        gs.select(torch.tensor([0, 1]))


def test_cat_pads_sh_and_select_prune_slice():
    a, b = make_gaussians(3, 0, seed=1), make_gaussians(2, 8, seed=2)
    both = Gaussians.cat([a, b])
    assert len(both) == 5 and both.shN.shape == (5, 8, 3)
    assert torch.equal(both.shN[:3], torch.zeros(3, 8, 3)) and torch.equal(both.shN[3:], b.shN)
    assert torch.equal(both.means, torch.cat([a.means, b.means]))
    mask = torch.tensor([True, False, True, False, True])
    sel = both.select(mask)
    assert len(sel) == 3 and torch.equal(sel.sh0, both.sh0[mask])
    assert torch.equal(both[1:3].means, both.means[1:3])
    both.logit_opacities[:] = torch.tensor([-10.0, 0.0, -10.0, 3.0, -4.0])  # 4.5e-5, 0.5, ..., 0.018
    kept = both.prune(1.0 / 255.0)
    assert len(kept) == 3 and torch.equal(kept.means, both.means[[1, 3, 4]])
    with pytest.raises(ValueError, match="at least one"):
        Gaussians.cat([])


def test_to_detach_clone_and_empty():
    gs = make_gaussians(4, 3)
    gs.means.requires_grad_(True)
    d = gs.to(dtype=torch.float64)
    assert all(t.dtype == torch.float64 for t in (d.means, d.log_scales, d.quats, d.logit_opacities, d.sh0, d.shN))
    assert not gs.detach().means.requires_grad
    c = gs.clone()
    c.sh0.zero_()
    assert gs.sh0.abs().sum() > 0
    e = Gaussians.empty()
    assert len(e) == 0 and e.device.type == "cpu"
    with pytest.raises(ValueError, match="empty"):
        e.bounding_box()


def test_bounding_box_and_centre_radius():
    means = torch.tensor([[0.0, -1.0, 2.0], [1.0, 1.0, 4.0], [0.5, 0.0, 3.0]])
    gs = Gaussians.from_activated(means, torch.full((3, 3), 0.01), torch.tensor([[1.0, 0, 0, 0]]).expand(3, 4),
                                  torch.full((3,), 0.5), torch.full((3, 3), 0.5))
    lo, hi = gs.bounding_box()
    assert lo.tolist() == [0.0, -1.0, 2.0] and hi.tolist() == [1.0, 1.0, 4.0]
    centre, radius = gs.center_and_radius()
    assert centre.tolist() == [0.5, 0.0, 3.0]
    assert radius == pytest.approx(1.5)  # half of the diagonal sqrt(1 + 4 + 4)
