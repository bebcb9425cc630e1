"""Views mode samples the synthesizer as the human fine-tune was trained (humansplat/humansplat):
triangular guidance, 18 frames at 512 px, the data loader's azimuths, the person at 95 % of the square,
the VAE in float32 while the UNet runs in half precision; the generated views' cameras use the
azimuths fed to the sampler."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from _fixtures_n1 import one_thread  # noqa: F401 - fixture

from humansplat.multiview.fine_tune import fine_tune_azimuths
from humansplat.multiview.pipeline_sv3d import frame_guidance_scales
from humansplat.views_mode import ViewsFitOptions, ViewsModeOptions

pytestmark = pytest.mark.usefixtures("one_thread")


def test_guidance_for_18_frames_is_the_fine_tunes_triangle():
    # src/models/sv3d_p.py L498-509 with min 1, max 2.5, V = 18:
    # cat(linspace(1, 2.5, 9), linspace(2.5, 1, 9)), written out
    up = [1.0, 1.1875, 1.375, 1.5625, 1.75, 1.9375, 2.125, 2.3125, 2.5]
    expected = torch.tensor(up + up[::-1])
    torch.testing.assert_close(frame_guidance_scales(18, 1.0, 2.5), expected)  # the default profile
    assert ViewsModeOptions().guidance_profile == "triangular"
    # an odd count: V // 2 = 3 up, V - V // 2 = 4 down
    torch.testing.assert_close(
        frame_guidance_scales(7, 1.0, 2.5), torch.tensor([1.0, 1.75, 2.5, 2.5, 2.0, 1.5, 1.0])
    )
    torch.testing.assert_close(frame_guidance_scales(4, 1.0, 2.5, "linear"), torch.tensor([1.0, 1.5, 2.0, 2.5]))


def _loader_labels(num_views: int, start: int) -> list[float]:
    """The research data loader's azimuth labels (src/data/human_dataset.py L110-118, L150-187), re-run."""
    idxs = list(range(36))
    idxs = idxs[start:] + idxs[:start]
    idxs = idxs[0 :: 36 // num_views]
    azims = np.linspace(-180, 180, 36)
    return [float((azims[i] - azims[idxs[0]]) % 360.0) for i in idxs]


def test_default_frames_size_azimuths_and_fill_are_the_fine_tunes():
    from humansplat.multiview.framing import DEFAULT_FILL

    opts = ViewsModeOptions()
    assert (opts.num_frames, opts.size, opts.fill, DEFAULT_FILL) == (18, 512, 0.95, 0.95)
    labels = opts.frame_azimuths()
    np.testing.assert_allclose(labels, _loader_labels(18, start=0), atol=1e-9)
    np.testing.assert_allclose(labels, _loader_labels(18, start=1), atol=1e-9)  # no wrap either
    assert labels[1] == pytest.approx(720 / 35) and labels[-1] == pytest.approx(17 * 720 / 35)
    assert 349.7 < labels[-1] < 349.8
    even = ViewsModeOptions(azimuths="even").frame_azimuths()
    np.testing.assert_allclose(even, np.arange(18) * 20.0)
    assert ViewsModeOptions(num_frames=3, azimuths=[0.0, 120.0, 240.0]).frame_azimuths() == [0.0, 120.0, 240.0]
    with pytest.raises(ValueError, match="2 azimuths given for num_frames=3"):
        ViewsModeOptions(num_frames=3, azimuths=[0.0, 120.0]).frame_azimuths()
    with pytest.raises(ValueError, match="'labels' or 'even'"):
        fine_tune_azimuths(18, "uneven")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="from 2 to 36"):
        fine_tune_azimuths(40)


class _Spy:
    """A synthesizer wrapper that records the azimuths it was asked for."""

    def __init__(self, pipe):
        self.pipe, self.asked = pipe, []

    def __call__(self, *args, **kwargs):
        self.asked.append(list(map(float, kwargs["azimuths_deg"])))
        return self.pipe(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.pipe, name)


def _turn_about_up(cams, centre: torch.Tensor, up: torch.Tensor) -> np.ndarray:
    """(F,) degrees each camera's position is turned about ``up`` through ``centre`` from camera 0's."""
    rel = cams.centers.detach().double() - centre.double()
    rel = rel - (rel @ up.double())[:, None] * up.double()
    a, b = rel[0], rel
    sin = torch.cross(a.expand_as(b), b, dim=-1) @ up.double()
    cos = b @ a
    return np.degrees(torch.atan2(sin, cos).numpy()) % 360.0


def test_the_views_cameras_use_the_azimuths_fed_to_the_sampler():
    from humansplat.multiview.pipeline_sv3d import SV3DPipeline
    from humansplat.multiview.tiny import TINY_IMAGE_SIZE, tiny_sv3d_components
    from humansplat.orbit import body_orbit
    from humansplat.prior.synthetic import make_synthetic_person
    from humansplat.views_mode import synthesize_views

    fit = make_synthetic_person(seed=3, size=96).as_body_fit()
    pipe = SV3DPipeline(**tiny_sv3d_components(seed=0))
    pipe.set_progress_bar_config(disable=True)
    spy = _Spy(pipe)
    for kind in ("labels", "even"):
        opts = ViewsModeOptions(num_frames=4, size=TINY_IMAGE_SIZE, azimuths=kind, num_inference_steps=1)
        out = synthesize_views(fit, spy, opts)
        fed = spy.asked[-1]
        assert fed == pytest.approx(fine_tune_azimuths(4, kind))
        orbit = body_orbit(fit)
        turned = _turn_about_up(out.view_cameras, orbit.centre, orbit.up)
        np.testing.assert_allclose((turned - np.asarray(fed) + 180.0) % 360.0 - 180.0, 0.0, atol=1e-3)
    assert spy.asked[0] != spy.asked[1]  # labels (92.6 deg apart) and even (90 deg) differ


def test_the_vae_decodes_in_float32_while_the_unet_runs_in_half_precision(tmp_path, monkeypatch):
    from humansplat.multiview.load import load_sv3d_pipeline
    from humansplat.multiview.tiny import TINY_IMAGE_SIZE, save_tiny_weights

    save_tiny_weights(tmp_path)
    monkeypatch.setenv("HUMANSPLAT_WEIGHTS", str(tmp_path))
    pipe = load_sv3d_pipeline(torch_dtype=torch.bfloat16)  # bfloat16: the CPU's half precision
    pipe.set_progress_bar_config(disable=True)
    assert pipe.unet.dtype == torch.bfloat16 and pipe.image_encoder.dtype == torch.bfloat16
    assert pipe.vae.dtype == torch.float32
    decoded_in: list[torch.dtype] = []
    real_decode = pipe.vae.decode

    def spy_decode(latents, *args, **kwargs):
        decoded_in.append(latents.dtype)
        return real_decode(latents, *args, **kwargs)

    monkeypatch.setattr(pipe.vae, "decode", spy_decode)
    photo = np.full((TINY_IMAGE_SIZE, TINY_IMAGE_SIZE, 3), 128, np.uint8)
    out = pipe(photo, num_inference_steps=1, azimuths_deg=[0.0, 90.0], generator=torch.Generator().manual_seed(0))
    assert decoded_in == [torch.float32] and out.images.dtype == np.uint8
    half_vae = load_sv3d_pipeline(torch_dtype=torch.bfloat16, vae_dtype=torch.bfloat16)
    assert half_vae.vae.dtype == torch.bfloat16  # asked for: the VAE follows


def test_fit_options_stay_views_modes():
    # the defaults of the fit are not changed by the sampling defaults (guard against a shared object)
    a, b = ViewsModeOptions(), ViewsModeOptions()
    assert a.fit is not b.fit and isinstance(a.fit, ViewsFitOptions) and a.fit.steps == 200
    assert math.isclose(a.max_guidance_scale, 2.5) and a.num_inference_steps == 25
