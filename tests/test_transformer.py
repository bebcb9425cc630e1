"""Latent reconstruction transformer: tiny configs, save/load round trip, pixel-aligned output."""

from __future__ import annotations

import json

import pytest
import torch

from humansplat.cameras import Cameras
from humansplat.network.transformer import PRESETS, UNTRAINED, LatentReconstructionTransformer

IMG = 64  # image pixels; latents are IMG / 8


def _scene(seed: int = 0, views: int = 5, vertices: int = 300, batch: int = 1):
    """Input camera + an orbit of generated views around a box-shaped 'body' 2.5 m ahead."""
    g = torch.Generator().manual_seed(seed)
    centre = torch.tensor([0.05, -0.1, 2.5])
    inp = Cameras.from_fov(30.0, IMG, IMG)
    gen = Cameras.orbit(centre, 2.5, torch.arange(views - 1) * 360.0 / (views - 1), fov_y_deg=30.0, width=IMG, height=IMG)
    cams = Cameras.cat([inp, gen])
    verts = (torch.rand(batch, vertices, 3, generator=g) - 0.5) * torch.tensor([0.5, 1.7, 0.3]) + centre
    parts = torch.randint(0, 7, (batch, vertices), generator=g)
    latents = torch.randn(batch, views, 4, IMG // 8, IMG // 8, generator=g)
    return latents, cams, verts, parts


def _model(**overrides) -> LatentReconstructionTransformer:
    torch.manual_seed(0)
    return LatentReconstructionTransformer.tiny(**overrides).eval()


def test_output_counts_ranges_and_pixel_alignment():
    model = _model(gaussian_upsample=2)
    latents, cams, verts, parts = _scene()
    with torch.no_grad():
        out = model(latents, cams, verts, parts)
    hg = IMG // 8 * 2
    g = out.gaussians[0]
    assert len(out.gaussians) == 1 and len(g) == 5 * hg * hg
    for t in (g.means, g.log_scales, g.quats, g.logit_opacities, g.sh0):
        assert torch.isfinite(t).all()
    torch.testing.assert_close(g.quats.norm(dim=-1), torch.ones(len(g)))
    cfg = model.config
    assert bool(((g.scales >= cfg.scale_min * 0.999) & (g.scales <= cfg.scale_max * 1.001)).all())
    assert bool(((g.opacities > 0) & (g.opacities < 1)).all())
    # pixel-aligned: every view's Gaussians project onto the centres of its Gaussian-map pixels
    pix = out.pixel_gaussians
    maps = cams.resize(hg, hg)
    uv, _ = maps.project(pix.means[0].reshape(-1, 3))  # (V, V*hg*hg, 2)
    for v in range(5):
        own = uv[v, v * hg * hg:(v + 1) * hg * hg].reshape(hg, hg, 2)
        torch.testing.assert_close(own, maps.pixel_grid(), atol=2e-3, rtol=0)
    # depths along the rays stay within depth_half_range of the body's distance
    centre = (verts[0].amin(0) + verts[0].amax(0)) / 2  # the body's bounding-box centre
    dist = (centre - cams.centers).norm(dim=-1)  # (V,)
    assert bool(((pix.depths[0] - dist[:, None, None]).abs() <= cfg.depth_half_range + 1e-5).all())


def test_same_seed_same_output_and_window_equals_dense():
    latents, cams, verts, parts = _scene(1)
    a, b = _model(), _model()
    with torch.no_grad():
        ga = a(latents, cams, verts, parts).gaussians[0]
        gb = b(latents, cams, verts, parts).gaussians[0]
        gd = a(latents, cams, verts, parts, inter_attention="dense").gaussians[0]
    torch.testing.assert_close(ga.means, gb.means, rtol=0, atol=0)
    torch.testing.assert_close(gd.means, ga.means, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(gd.sh0, ga.sh0, rtol=1e-5, atol=1e-5)


def test_save_load_round_trip_and_provenance(tmp_path):
    model = _model()
    latents, cams, verts, parts = _scene(2)
    model.save_pretrained(tmp_path / "untrained")
    cfg = json.loads((tmp_path / "untrained" / "config.json").read_text())
    assert cfg["hidden_dim"] == 32 and cfg["trained"] is False
    assert (tmp_path / "untrained" / "diffusion_pytorch_model.safetensors").is_file()
    loaded = LatentReconstructionTransformer.from_pretrained(tmp_path / "untrained").eval()
    with torch.no_grad():
        ref = model(latents, cams, verts, parts).gaussians[0]
        got = loaded(latents, cams, verts, parts).gaussians[0]
    for name in ("means", "log_scales", "quats", "logit_opacities", "sh0"):
        torch.testing.assert_close(getattr(got, name), getattr(ref, name), rtol=0, atol=0)
    assert model.weights_status == UNTRAINED and not model.has_trained_weights
    assert loaded.weights_status.startswith(UNTRAINED) and "trained: false" in loaded.weights_status
    assert not loaded.has_trained_weights

    from humansplat.network.provenance import HeldoutScores, Provenance, VaeInfo

    record = Provenance(VaeInfo("unit", None, 0.18215, 4, 8), 64, 8, 2, "anny", 100, "unit", 1, 0, "unit", smoke=True)
    model.mark_trained("unit test: 0 iterations", record)  # no held-out scores: not trained
    model.save_pretrained(tmp_path / "unscored")
    assert not LatentReconstructionTransformer.from_pretrained(tmp_path / "unscored").has_trained_weights
    record.heldout = HeldoutScores(psnr=20.0, ssim=0.8, iou=0.9, subjects=1, step=0)
    model.mark_trained("unit test: 0 iterations", record)
    model.save_pretrained(tmp_path / "trained")
    trained = LatentReconstructionTransformer.from_pretrained(tmp_path / "trained")
    assert trained.has_trained_weights
    assert trained.weights_status.startswith(f"trained: {tmp_path / 'trained'}; unit test: 0 iterations; SMOKE RUN")
    # a config that says "trained" does not make random weights trained
    fresh = LatentReconstructionTransformer.from_config(trained.config)
    assert fresh.config.trained and not fresh.has_trained_weights and fresh.weights_status == UNTRAINED


def test_translation_equivariance():
    """Moving the whole scene (cameras and body) by a vector moves every Gaussian by that vector."""
    model = _model()
    latents, cams, verts, parts = _scene(3)
    shift = torch.tensor([0.7, -0.3, 1.2])
    R = cams.viewmats[:, :3, :3]
    moved_views = cams.viewmats.clone()
    moved_views[:, :3, 3] = cams.viewmats[:, :3, 3] - R @ shift  # world' = world + shift
    moved = Cameras(moved_views, cams.Ks, cams.width, cams.height)
    with torch.no_grad():
        a = model(latents, cams, verts, parts).gaussians[0]
        b = model(latents, moved, verts + shift, parts).gaussians[0]
    torch.testing.assert_close(b.means, a.means + shift, atol=2e-4, rtol=0)
    torch.testing.assert_close(b.sh0, a.sh0, atol=2e-4, rtol=0)


def test_batch_of_two_matches_single_items():
    model = _model()
    latents, cams, verts, parts = _scene(4, batch=2)
    with torch.no_grad():
        both = model(latents, [cams, cams], verts, parts).gaussians
        first = model(latents[:1], cams, verts[:1], parts[:1]).gaussians[0]
        second = model(latents[1:], cams, verts[1:], parts[1:]).gaussians[0]
    torch.testing.assert_close(both[0].means, first.means, atol=1e-5, rtol=0)
    torch.testing.assert_close(both[1].means, second.means, atol=1e-5, rtol=0)


def test_gradient_checkpointing_gives_the_same_gradients():
    latents, cams, verts, parts = _scene(5)
    grads = []
    for checkpointing in (False, True):
        model = _model().train()
        if checkpointing:
            model.enable_gradient_checkpointing()
        out = model(latents, cams, verts, parts).pixel_gaussians
        (out.means.square().mean() + out.rgb.mean() + out.opacities.mean()).backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
    assert grads[0].abs().sum() > 0
    torch.testing.assert_close(grads[1], grads[0])


def test_bad_inputs_are_reported():
    model = _model()
    latents, cams, verts, parts = _scene(6)
    with pytest.raises(ValueError, match=r"latents must be \(B, V, 4, h, w\)"):
        model(latents[:, :, :3], cams, verts, parts)
    with pytest.raises(ValueError, match="has 4 views; the latents have 5"):
        model(latents, cams[:4], verts, parts)
    with pytest.raises(ValueError, match="not divisible by patch_size 2"):
        model(latents[..., :7, :7], cams, verts, parts)
    with pytest.raises(ValueError, match=r"parts must be \(B, M\)"):
        model(latents, cams, verts, parts[:, :10])
    with pytest.raises(ValueError, match="input_view 7"):
        model(latents, cams, verts, parts, input_view=7)
    with pytest.raises(ValueError, match="window_size .* odd .* got 4"):
        LatentReconstructionTransformer.tiny(window_size=4)
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        LatentReconstructionTransformer.from_preset("huge")


def test_presets_are_described_and_base_is_the_paper_size():
    assert set(PRESETS) >= {"tiny", "base"}
    with torch.device("meta"):
        base = LatentReconstructionTransformer.base()
    cfg = base.config
    assert (cfg.hidden_dim, cfg.num_intra_layers, cfg.patch_size, cfg.window_size) == (768, 12, 2, 3)
    n = sum(p.numel() for p in base.parameters())
    assert 80e6 < n < 200e6, n


def test_bfloat16_and_compiled_blocks_agree_with_float32():
    latents, cams, verts, parts = _scene(7)
    model = _model()
    with torch.no_grad():
        ref = model(latents, cams, verts, parts).gaussians[0]
        half = _model().to(torch.bfloat16)(latents, cams, verts, parts).gaussians[0]
        assert half.means.dtype == torch.float32  # Gaussians stay float32 (activations run in float32)
        torch.testing.assert_close(half.means, ref.means, atol=0.02, rtol=0)  # metres
        model.compile_blocks(backend="eager")  # the compile path, without a C++ toolchain
        compiled = model(latents, cams, verts, parts).gaussians[0]
    torch.testing.assert_close(compiled.means, ref.means, rtol=0, atol=1e-6)
