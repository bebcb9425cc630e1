"""HumanSplatPipeline end to end on tiny components: body fit -> SV3D latents -> Gaussians."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from humansplat.cameras import Cameras
from humansplat.errors import WeightsUnavailableError
from humansplat.multiview.tiny import TINY_IMAGE_SIZE, tiny_sv3d_components
from humansplat.prior.body_fit import BodyFit
from humansplat.prior.landmarks import Landmarks
from humansplat.prior.person import PersonCrop
from humansplat.network.pipeline_humansplat import HumanSplatPipeline, body_orbit_cameras, network_status
from humansplat.network.transformer import UNTRAINED, LatentReconstructionTransformer

S = TINY_IMAGE_SIZE  # 32 px crop


def _body_fit(seed: int = 0, vertices: int = 200) -> BodyFit:
    """A hand-made fit: a box of vertices 2.5 m ahead, seen by an off-centre crop of a 64 px photo."""
    g = torch.Generator().manual_seed(seed)
    camera = Cameras.from_fov(40.0, 64, 64).crop(20.0, 14.0, S, S)  # principal point off the crop centre
    o, d = camera.rays(torch.tensor([[S / 2, S / 2]]))
    centre = o[0, 0] + d[0, 0] * (2.5 / float(d[0, 0, 2]))  # the crop centre's ray at depth 2.5 m
    verts = (torch.rand(vertices, 3, generator=g) - 0.5) * torch.tensor([0.5, 1.7, 0.3]) + centre
    rgb = (np.random.default_rng(seed).random((S, S, 3)) * 255).astype(np.uint8)
    crop = PersonCrop(
        rgb=rgb,
        mask=np.ones((S, S), np.float32),
        camera=camera,
        landmarks=Landmarks(body=np.zeros((33, 2), np.float32), body_confidence=np.zeros(33, np.float32)),
    )
    return BodyFit(
        backend="test",
        pose=torch.zeros(0),
        shape={},
        vertices=verts,
        faces=torch.zeros(0, 3, dtype=torch.long),
        parts=torch.randint(0, 7, (vertices,), generator=g),
        joints=torch.zeros(0, 3),
        camera=camera,
        crop=crop,
    )


def _pipeline(seed: int = 0) -> HumanSplatPipeline:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        reconstructor = LatentReconstructionTransformer.tiny().eval()
    pipe = HumanSplatPipeline(reconstructor=reconstructor, **tiny_sv3d_components(seed))
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _record(vae, smoke: bool = True):
    """A training record (provenance with held-out scores) matching the tiny pipeline and ``_body_fit``."""
    from humansplat.network.provenance import HeldoutScores, Provenance, vae_info

    info = vae_info(vae, "tiny")
    scores = HeldoutScores(psnr=20.0, ssim=0.8, iou=0.9, subjects=1, step=0)
    return Provenance(info, S, S // info.downsample, 5, "test", 200, "unit", 1, 0, "unit", smoke=smoke, heldout=scores)


def _run(pipe, fit, seed=0, **kwargs):
    kwargs.setdefault("max_guidance_scale", 1.0)  # no classifier-free guidance: half the UNet work
    return pipe(fit, generator=torch.Generator().manual_seed(seed), num_inference_steps=2, num_frames=4, **kwargs)


@pytest.fixture(scope="module")
def reference():
    """(pipeline, body fit, output with seed 0) shared by the tests below (each run costs seconds)."""
    pipe, fit = _pipeline(), _body_fit()
    return pipe, fit, _run(pipe, fit, allow_untrained=True)


def test_refuses_random_weights_with_a_clear_message():
    pipe = _pipeline()
    with pytest.raises(WeightsUnavailableError) as info:
        _run(pipe, _body_fit())
    msg = str(info.value)
    assert "No trained HumanSplat reconstruction weights exist publicly" in msg
    assert "random (untrained)" in msg and "unet, vae" in msg  # what is random
    assert "HUMANSPLAT_WEIGHTS/reconstructor" in msg and "mode='prior'" in msg and "allow_untrained=True" in msg


def test_end_to_end_counts_finite_and_seeded(reference):
    pipe, fit, out = reference
    latent = S // 2 ** (len(pipe.vae.config.block_out_channels) - 1)
    assert len(out.gaussians) == 5 * latent * latent  # photo + 4 views, g = 1 Gaussian per latent pixel
    for t in (out.gaussians.means, out.gaussians.log_scales, out.gaussians.quats, out.gaussians.sh0):
        assert torch.isfinite(t).all()
    assert out.views.shape == (4, S, S, 3) and out.views.dtype == np.uint8
    assert out.latents.shape == (5, 4, latent, latent) and len(out.latent_cameras) == 5
    assert out.azimuths_deg.tolist() == [0.0, 90.0, 180.0, 270.0]
    assert set(out.weights) == {"unet", "vae", "image_encoder", "reconstructor"}
    assert all(v == UNTRAINED for v in out.weights.values())
    assert set(out.timings) == {"synthesize", "decode", "reconstruct"}
    other = _run(pipe, fit, seed=1, allow_untrained=True)
    assert not torch.allclose(other.gaussians.sh0, out.gaussians.sh0)  # the generator drives SV3D's noise
    # the photo's latent comes with the crop's exact camera (resized to the view size)
    torch.testing.assert_close(out.latent_cameras.Ks[0], fit.camera.Ks[0])


def test_orbit_cameras_circle_the_body_and_start_at_the_input_side():
    fit = _body_fit()
    cams = body_orbit_cameras(fit, [0.0, 90.0, 180.0], 0.0, S, S)
    centre = (fit.vertices.amin(0) + fit.vertices.amax(0)) / 2
    uv, depth = cams.project(centre[None])
    torch.testing.assert_close(uv[:, 0], torch.full((3, 2), S / 2.0), atol=1e-3, rtol=0)  # body centre at image centre
    radius = float(centre.norm())
    torch.testing.assert_close(depth[:, 0], torch.full((3,), radius), atol=1e-4, rtol=0)
    # azimuth 0 looks along +z like the input camera; 90 deg sits on the +x side (the subject's left)
    torch.testing.assert_close(cams.viewmats[0, :3, :3], torch.eye(3), atol=1e-5, rtol=0)
    assert float(cams.centers[1, 0] - centre[0]) == pytest.approx(radius, abs=1e-4)
    # same vertical field of view as the crop
    assert float(cams.Ks[0, 1, 1]) == pytest.approx(float(fit.camera.Ks[0, 1, 1]), rel=1e-5)


def test_save_load_round_trip_and_trained_flag(reference, tmp_path):
    """Same seed, same output after save_pretrained / from_pretrained; only a checkpoint marked
    trained runs without allow_untrained."""
    pipe, fit, ref = reference
    pipe.save_pretrained(tmp_path / "untrained")
    loaded = HumanSplatPipeline.from_pretrained(tmp_path / "untrained")
    assert isinstance(loaded.reconstructor, LatentReconstructionTransformer)
    assert loaded.weights_report()["unet"] == f"loaded: {tmp_path / 'untrained' / 'unet'}"
    with pytest.raises(WeightsUnavailableError, match="trained: false"):
        _run(loaded, fit)  # loaded, but the checkpoint is not marked trained (refused before SV3D runs)

    loaded.reconstructor.mark_trained("unit test", _record(loaded.vae))
    loaded.save_pretrained(tmp_path / "trained")
    trained = HumanSplatPipeline.from_pretrained(tmp_path / "trained")
    trained.set_progress_bar_config(disable=True)
    out = _run(trained, fit)  # no allow_untrained needed
    assert out.weights["reconstructor"].startswith("trained: ") and "unit test" in out.weights["reconstructor"]
    # reloaded modules may pick other float kernels (e.g. CLIP's attention): equal to 0.1 mm
    torch.testing.assert_close(out.gaussians.means, ref.gaussians.means, rtol=0, atol=1e-4)
    torch.testing.assert_close(out.gaussians.sh0, ref.gaussians.sh0, rtol=0, atol=1e-4)


def test_bad_view_azimuths_are_reported(reference):
    pipe, fit, _ = reference
    with pytest.raises(ValueError, match=r"view_azimuths \[45.0\] are not on the generated orbit"):
        _run(pipe, fit, view_azimuths=(0.0, 45.0), allow_untrained=True)


def test_from_hub_without_reconstructor_weights_says_what_to_do(monkeypatch):
    monkeypatch.delenv("HUMANSPLAT_WEIGHTS", raising=False)
    monkeypatch.delenv("HUMANSPLAT_RECONSTRUCTOR_REPO", raising=False)
    with pytest.raises(WeightsUnavailableError, match="reconstructor"):
        HumanSplatPipeline.from_hub(local_files_only=True)
    with pytest.raises(WeightsUnavailableError, match="reconstructor"):
        HumanSplatPipeline.from_pretrained(local_files_only=True)  # no path: the Hub locations
    ok, message = network_status()
    assert not ok and message.startswith("No trained HumanSplat reconstruction weights exist publicly")


def test_network_status_sees_a_local_trained_checkpoint(reference, tmp_path, monkeypatch):
    pipe, _, _ = reference
    pipe.save_pretrained(tmp_path)  # unet/, vae/, image_encoder/, reconstructor/ ... (random, untrained)
    monkeypatch.setenv("HUMANSPLAT_WEIGHTS", str(tmp_path))
    ok, message = network_status()
    assert not ok and "not marked trained" in message
    loaded = LatentReconstructionTransformer.from_pretrained(tmp_path / "reconstructor")
    loaded.mark_trained("unit test", _record(pipe.vae, smoke=True))
    loaded.save_pretrained(tmp_path / "reconstructor")
    ok, message = network_status()
    assert not ok and "smoke run" in message  # mode="auto" never picks a smoke run
    loaded.mark_trained("unit test", _record(pipe.vae, smoke=False))
    loaded.save_pretrained(tmp_path / "reconstructor")
    ok, message = network_status()
    assert ok and str(tmp_path / "reconstructor") in message
    hub_pipe = HumanSplatPipeline.from_hub()  # every component from $HUMANSPLAT_WEIGHTS
    assert hub_pipe.reconstructor.has_trained_weights
    report = hub_pipe.weights_report()
    assert report["unet"] == f"loaded: {tmp_path / 'unet'}" and report["reconstructor"].startswith("trained: ")
