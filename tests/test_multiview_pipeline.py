"""SV3DPipeline on tiny random components: shapes, seeding, conditioning contract, cameras, loading."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from _fixtures_n1 import one_thread  # noqa: F401 - fixture

from humansplat.multiview.pipeline_sv3d import (
    MultiviewOutput,
    SV3DPipeline,
    default_orbit_azimuths,
    encoder_pixels,
    frame_guidance_scales,
    sv3d_camera_ids,
)
from humansplat.multiview.tiny import TINY_IMAGE_SIZE, tiny_sv3d_components

S = TINY_IMAGE_SIZE


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def pipe() -> SV3DPipeline:
    pipeline = SV3DPipeline(**tiny_sv3d_components(seed=0))
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    yy, xx = np.mgrid[0:S, 0:S] / S
    return (np.stack([xx, yy, 1 - xx * yy], axis=-1) * 255).astype(np.uint8)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _run(pipe: SV3DPipeline, image, seed: int = 0, **kw) -> MultiviewOutput:
    kw = {"num_frames": 4, "num_inference_steps": 2, **kw}
    return pipe(image, generator=_gen(seed), **kw)


def test_output_shapes_and_types(pipe, photo):
    out = _run(pipe, photo)
    h = S // pipe.vae_scale_factor
    assert out.latents.shape == (4, 4, h, h) and out.latents.dtype == torch.float32
    assert out.images.shape == (4, S, S, 3) and out.images.dtype == np.uint8
    assert out.input_latent.shape == (4, h, h)
    assert len(out.cameras) == 4 and (out.cameras.width, out.cameras.height) == (S, S)
    assert out.azimuths_deg.tolist() == [0.0, 90.0, 180.0, 270.0]
    assert out.elevations_deg.tolist() == [0.0] * 4
    assert torch.isfinite(out.latents).all()


def test_latents_decode_to_the_images(pipe, photo):
    out = _run(pipe, photo)
    with torch.no_grad():
        decoded = pipe.vae.decode(out.latents / pipe.vae.config.scaling_factor).sample
    expected = ((decoded / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1) * 255).round().to(torch.uint8).numpy()
    assert np.abs(expected.astype(int) - out.images.astype(int)).max() <= 1


def test_same_generator_same_output_other_seed_differs(pipe, photo):
    a, b, c = _run(pipe, photo, 0), _run(pipe, photo, 0), _run(pipe, photo, 1)
    torch.testing.assert_close(a.latents, b.latents, rtol=0, atol=0)
    assert np.array_equal(a.images, b.images)
    assert (a.latents - c.latents).abs().max() > 0.1
    torch.testing.assert_close(a.input_latent, c.input_latent)  # the photo's latent has no noise


def test_no_global_seeding(pipe, photo):
    state = torch.random.get_rng_state()
    _run(pipe, photo)
    assert torch.equal(state, torch.random.get_rng_state())


def test_input_latent_is_the_scaled_vae_mode_of_the_photo(pipe, photo):
    out = _run(pipe, photo, output_type="latent")
    x = torch.from_numpy(photo).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        mode = pipe.vae.encode(2 * x - 1).latent_dist.mode()[0]
    torch.testing.assert_close(out.input_latent, mode * pipe.vae.config.scaling_factor, rtol=1e-5, atol=1e-5)
    assert out.images is None


class _Spy:
    """Records the UNet's inputs (forward pre-hook with kwargs)."""

    def __init__(self, unet):
        self.calls: list[tuple[tuple, dict]] = []
        self.handle = unet.register_forward_pre_hook(self.hook, with_kwargs=True)

    def hook(self, module, args, kwargs):
        self.calls.append(
            (tuple(a.clone() if torch.is_tensor(a) else a for a in args), {k: v for k, v in kwargs.items()})
        )

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.remove()


def test_conditioning_reaches_the_unet_as_documented(pipe, photo):
    azimuths = [0.0, 90.0, 200.0, 300.0]
    with _Spy(pipe.unet) as spy:
        _run(pipe, photo, num_frames=None, azimuths_deg=azimuths, elevation_deg=10.0, noise_aug_strength=0.0)
    assert len(spy.calls) == 2  # one UNet call per step, both CFG branches batched
    (sample, _), kwargs = spy.calls[0]
    h = S // pipe.vae_scale_factor
    assert sample.shape == (2, 4, 8, h, h)  # [uncond, cond] x F x (4 noisy + 4 conditioning)
    x = torch.from_numpy(photo).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        mode = pipe.vae.encode(2 * x - 1).latent_dist.mode()[0]  # NOT scaled
        clip = pipe.image_encoder(pixel_values=encoder_pixels(x, S, S, "imagenet")).image_embeds
    assert torch.count_nonzero(sample[0, :, 4:]) == 0  # unconditional: zero latent
    for f in range(4):
        torch.testing.assert_close(sample[1, f, 4:], mode, rtol=1e-5, atol=1e-5)
    embeds = kwargs["encoder_hidden_states"]
    assert embeds.shape == (2, 1, clip.shape[-1]) and torch.count_nonzero(embeds[0]) == 0
    torch.testing.assert_close(embeds[1, 0], clip[0], rtol=1e-5, atol=1e-5)
    ids = kwargs["added_time_ids"]
    assert ids.shape == (2, 4, 3)
    torch.testing.assert_close(ids[1, :, 1], torch.full((4,), math.radians(80.0)))
    torch.testing.assert_close(ids[1, :, 2], torch.tensor([math.radians(a) for a in azimuths]))
    torch.testing.assert_close(ids[0], ids[1])


def test_no_guidance_runs_a_single_branch(pipe, photo):
    with _Spy(pipe.unet) as spy:
        _run(pipe, photo, max_guidance_scale=1.0)
    assert spy.calls[0][0][0].shape[0] == 1


def test_guidance_scales_per_frame():
    torch.testing.assert_close(frame_guidance_scales(4, 1.0, 2.5, "linear"), torch.tensor([1.0, 1.5, 2.0, 2.5]))
    torch.testing.assert_close(frame_guidance_scales(4, 1.0, 2.0), torch.tensor([1.0, 2.0, 2.0, 1.0]))  # triangular
    with pytest.raises(ValueError, match="'cubic'"):
        frame_guidance_scales(4, 1.0, 2.0, "cubic")


def test_camera_ids_convention():
    ids = sv3d_camera_ids(torch.tensor([0.0, 90.0, 270.0, -90.0]), torch.tensor([0.0, 0.0, 30.0, 0.0]), 1e-5)
    torch.testing.assert_close(ids[:, 0], torch.full((4,), 1e-5))
    torch.testing.assert_close(ids[:, 1], torch.tensor([math.pi / 2, math.pi / 2, math.pi / 3, math.pi / 2]))
    torch.testing.assert_close(ids[:, 2], torch.tensor([0.0, math.pi / 2, 3 * math.pi / 2, 3 * math.pi / 2]))
    mirrored = sv3d_camera_ids(torch.tensor([90.0]), torch.tensor([0.0]), 0.0, azimuth_sign=-1)
    torch.testing.assert_close(mirrored[0, 2], torch.tensor(3 * math.pi / 2))


def test_default_orbit_holds_the_orthogonal_views():
    for frames in (4, 8, 12, 16):
        az = default_orbit_azimuths(frames)
        assert az[0] == 0.0 and {0.0, 90.0, 180.0, 270.0} <= set(az) and len(az) == frames
    with pytest.raises(ValueError, match="multiple of 4.*got 6"):
        default_orbit_azimuths(6)


def test_cameras_follow_the_azimuths(pipe, photo):
    out = _run(pipe, photo, num_frames=None, azimuths_deg=[0.0, 90.0, 180.0], camera_distance=2.5, fov_y_deg=40.0)
    cams = out.cameras
    torch.testing.assert_close(cams.viewmats[0], torch.eye(4), rtol=0, atol=1e-6)  # azimuth 0 = input camera
    centre = torch.tensor([0.0, 0.0, 2.5])
    expected = torch.tensor([[0.0, 0.0, 0.0], [2.5, 0.0, 2.5], [0.0, 0.0, 5.0]])  # 90 deg: subject's left (+x)
    torch.testing.assert_close(cams.centers, expected, rtol=0, atol=1e-5)
    forward = cams.camtoworlds[:, :3, 2]
    torch.testing.assert_close(forward, torch.nn.functional.normalize(centre - cams.centers, dim=-1), atol=1e-5, rtol=0)
    uv, _ = cams.project(centre[None])
    torch.testing.assert_close(uv[:, 0], torch.full((3, 2), S / 2.0), atol=1e-4, rtol=0)


def test_rgba_input_is_composited_on_white(pipe):
    transparent = np.zeros((S, S, 4), dtype=np.uint8)
    white = np.full((S, S, 3), 255, dtype=np.uint8)
    a = _run(pipe, transparent, output_type="latent")
    b = _run(pipe, white, output_type="latent")
    torch.testing.assert_close(a.latents, b.latents)


def test_accepts_pil_tensor_and_objects_with_rgb(pipe, photo):
    from PIL import Image

    ref = _run(pipe, photo, output_type="latent").latents
    as_tensor = torch.from_numpy(photo).permute(2, 0, 1).float() / 255
    crop_like = type("Crop", (), {"rgb": photo})()
    for image in (Image.fromarray(photo), as_tensor, crop_like):
        torch.testing.assert_close(_run(pipe, image, output_type="latent").latents, ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_frames": None, "azimuths_deg": [30.0, 120.0]}, r"azimuths_deg\[0\] must be 0.*30"),
        ({"num_frames": 6}, "multiple of 4"),
        ({"num_frames": 3, "azimuths_deg": [0.0, 90.0]}, "num_frames=3 but 2 azimuths"),
        ({"height": 30, "width": 30}, "multiples of 4.*30x30"),
        ({"elevation_deg": [0.0, 10.0]}, r"one value per frame \(4\)"),
        ({"num_inference_steps": 0}, "num_inference_steps must be >= 1"),
        ({"output_type": "pil"}, "'pil'"),
    ],
)
def test_bad_arguments_are_refused(pipe, photo, kwargs, message):
    with pytest.raises(ValueError, match=message):
        _run(pipe, photo, **kwargs)


def test_bad_images_are_refused(pipe, photo):
    with pytest.raises(ValueError, match="crop the person"):
        _run(pipe, np.zeros((S, 2 * S, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        _run(pipe, torch.full((3, S, S), 2.0))
    with pytest.raises(TypeError, match="PIL image"):
        _run(pipe, "photo.png")


def test_pipeline_save_load_round_trip(pipe, photo, tmp_path):
    pipe.save_pretrained(tmp_path / "sv3d")
    loaded = SV3DPipeline.from_pretrained(tmp_path / "sv3d")
    loaded.set_progress_bar_config(disable=True)
    assert type(loaded.unet).__name__ == "SV3DUNet"
    a, b = _run(pipe, photo), _run(loaded, photo)
    # identical weights; CLIP's freshly built and loaded copies differ by ~1e-7 in float32
    torch.testing.assert_close(a.latents, b.latents, rtol=0, atol=1e-3)


def test_each_component_round_trips(tmp_path):
    from diffusers import AutoencoderKL
    from transformers import CLIPVisionModelWithProjection

    from humansplat.multiview.unet import SV3DUNet

    parts = tiny_sv3d_components(seed=4)
    x = torch.rand(1, 3, S, S, generator=_gen(2))
    with torch.no_grad():
        for name, cls, run in (
            ("vae", AutoencoderKL, lambda m: m.encode(x).latent_dist.mode()),
            ("image_encoder", CLIPVisionModelWithProjection, lambda m: m(pixel_values=x).image_embeds),
        ):
            parts[name].save_pretrained(tmp_path / name)
            torch.testing.assert_close(run(cls.from_pretrained(tmp_path / name)), run(parts[name]), atol=1e-6, rtol=0)
    assert isinstance(parts["unet"], SV3DUNet)


def test_tiny_components_are_seeded():
    a, b, c = tiny_sv3d_components(0), tiny_sv3d_components(0), tiny_sv3d_components(1)
    wa, wb, wc = (p["unet"].conv_in.weight for p in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)


def test_low_precision_runs(photo):
    pipe = SV3DPipeline(**tiny_sv3d_components(seed=0))
    pipe.set_progress_bar_config(disable=True)
    ref = _run(pipe, photo, output_type="latent").latents
    pipe.to(dtype=torch.bfloat16)
    out = _run(pipe, photo)
    assert out.latents.dtype == torch.float32 and torch.isfinite(out.latents).all()
    assert (out.latents - ref).abs().max() < 0.25 * ref.abs().max()


def test_load_from_a_local_weights_folder(tmp_path, monkeypatch, photo):
    """load_sv3d_pipeline reads $HUMANSPLAT_WEIGHTS/<component>/ (fp16 UNet variant) without the Hub."""
    from humansplat.multiview.load import load_sv3d_pipeline

    parts = tiny_sv3d_components(seed=0)
    parts["unet"].half().save_pretrained(tmp_path / "unet", variant="fp16")
    parts["vae"].save_pretrained(tmp_path / "vae")
    parts["image_encoder"].save_pretrained(tmp_path / "image_encoder")
    parts["scheduler"].save_pretrained(tmp_path / "scheduler")
    parts["feature_extractor"].save_pretrained(tmp_path / "feature_extractor")
    monkeypatch.setenv("HUMANSPLAT_WEIGHTS", str(tmp_path))
    loaded = load_sv3d_pipeline(builtin_configs=False, torch_dtype=torch.float32)
    loaded.set_progress_bar_config(disable=True)
    assert loaded.unet.dtype == torch.float32 and loaded.default_size is None
    assert loaded.default_view_size() == 32 and loaded.default_num_frames() == 4  # from the UNet config
    assert loaded.attention_backend == "sdpa"
    ref = SV3DPipeline(**{**parts, "unet": tiny_sv3d_components(seed=0)["unet"].half().float()})
    ref.set_progress_bar_config(disable=True)
    torch.testing.assert_close(_run(loaded, photo).latents, _run(ref, photo).latents, atol=1e-3, rtol=0)


def test_load_reports_a_missing_component(tmp_path, monkeypatch):
    from humansplat.errors import WeightsUnavailableError
    from humansplat.multiview.load import load_sv3d_pipeline

    tiny_sv3d_components(seed=0)["unet"].save_pretrained(tmp_path / "unet")
    monkeypatch.setenv("HUMANSPLAT_WEIGHTS", str(tmp_path))
    with pytest.raises(WeightsUnavailableError, match=r"(?s)no vae/ folder.*hf download stable-diffusion-v1-5"):
        load_sv3d_pipeline()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_fp16_and_model_cpu_offload(photo):
    pipe = SV3DPipeline(**tiny_sv3d_components(seed=0))
    pipe.set_progress_bar_config(disable=True)
    ref = _run(pipe, photo).latents
    pipe.to("cuda", torch.float16)
    out = _run(pipe, photo)
    assert out.latents.device.type == "cuda" and torch.isfinite(out.latents).all()
    assert (out.latents.cpu() - ref).abs().max() < 0.25 * ref.abs().max()
    offloaded = SV3DPipeline(**tiny_sv3d_components(seed=0))
    offloaded.set_progress_bar_config(disable=True)
    offloaded.enable_model_cpu_offload()
    out = _run(offloaded, photo)
    assert out.latents.device.type == "cuda"
    assert (out.latents.cpu() - ref).abs().max() < 1e-2
