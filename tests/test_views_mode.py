"""Views mode: the SV3D conditioning against the research code's formulas, the exact cameras of the
generated views, the bounded Gaussian fit, the end-to-end run on a tiny synthesizer, the mode rule.

Ground truth for the fit: the evaluation harness's built-in textured ``jacket`` subject
(:mod:`humansplat.eval`): its 64-pixel input view is the photo (person detection and the body fit run on
it), its true renders at the harness's side and back azimuths are the "generated views", and the
harness scores the orbit views before and after the fit.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace

import numpy as np
import pytest

from humansplat.errors import Deadline, TimeLimitError
import torch

from humansplat.geometry import axis_rotation
from humansplat.multiview.framing import orbit_view_cameras, prepare_synthesizer_input
from humansplat.orbit import body_up_axis
from humansplat.multiview.pipeline_sv3d import (
    ENCODER_NORMALIZATIONS,
    SV3D_AZIMUTH_SIGN,
    _blur_then_bilinear,
    encoder_pixels,
    sv3d_camera_ids,
)
from humansplat.views_mode import (
    ViewsFitOptions,
    ViewsModeOptions,
    choose_mode,
    fit_gaussians_to_views,
    mask_from_white,
    run_views_mode,
)

SIZE, VIEW = 128, 96


# ------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def person():
    from humansplat.prior.synthetic import make_synthetic_person

    return make_synthetic_person(seed=0, size=SIZE)


EVAL_SIZE = 64


@pytest.fixture(scope="module")
def jacket():
    """(the ``jacket`` subject, the harness's input view of it from its front, the body fitted to that photo)."""
    from humansplat.eval.harness import make_input_view
    from humansplat.eval.subjects import builtin_subjects
    from humansplat.io.images import load_photo
    from humansplat.prior.fit import fit_body
    from humansplat.prior.person import detect_person

    subject = builtin_subjects(["jacket"])[0]
    view = make_input_view(subject, 0.0, EVAL_SIZE)
    return subject, view, fit_body(detect_person(load_photo(view.photo)))


@pytest.fixture(scope="module")
def prior(jacket):
    from humansplat.prior_mode.build import PriorOptions, gaussians_from_prior

    return gaussians_from_prior(jacket[2], PriorOptions(resolution=128, geometry_resolution=128, back_resolution=128))


# ------------------------------------------------------------------------------------ conditioning
def test_time_ids_equal_the_research_formulas_by_hand():
    # research (sv3d_p.py L461-483): [1e-5, polar = deg2rad(90 - elevation), deg2rad((az - az0) % 360)]
    ids = sv3d_camera_ids(torch.tensor([0.0, 90.0, 180.0, 330.0]), torch.tensor([10.0] * 4), 1e-5)
    expected = torch.tensor(
        [
            [1e-5, 1.3962634, 0.0],
            [1e-5, 1.3962634, 1.5707963],
            [1e-5, 1.3962634, 3.1415927],
            [1e-5, 1.3962634, 5.7595865],
        ]
    )
    torch.testing.assert_close(ids, expected)


def _p3d_look_at(azimuth_deg: float, dist: float = 2.0) -> tuple[torch.Tensor, torch.Tensor]:
    """PyTorch3D's look_at_view_transform(dist, elev=0, azim) written out: R's columns are the camera's
    axes in the world (+X left, +Y up, +Z forward), T = -R^T C; X_view = X_world R + T."""
    a = math.radians(azimuth_deg)
    C = torch.tensor([dist * math.sin(a), 0.0, dist * math.cos(a)])
    z = -C / C.norm()
    x = torch.linalg.cross(torch.tensor([0.0, 1.0, 0.0]), z)
    x = x / x.norm()
    y = torch.linalg.cross(z, x)
    R = torch.stack([x, y, z], dim=1)
    return R, -R.T @ C


def test_azimuth_sign_matches_the_research_loader():
    """human_dataset.py L333-339: eye = -R^T T, azimuth = atan2(eye_z, eye_x), then relative to view 0
    (sv3d_p.py L271-276). Our azimuth of the same cameras: the angle the camera moved towards the first
    view's image right (the subject's left), measured from the geometry."""
    start = 37.0
    R0, _ = _p3d_look_at(start)
    right0 = -R0[:, 0]  # PyTorch3D's +X points to the image's left
    back0 = -R0[:, 2]  # from the centre towards the first camera
    research, ours = [], []
    for step in (0.0, 30.0, 90.0, 200.0, 300.0):
        R, T = _p3d_look_at(start + step)
        eye = -R.T @ T
        research.append(math.atan2(float(eye[2]), float(eye[0])))
        centre = -R @ T  # the true camera centre
        ours.append(math.degrees(math.atan2(float(centre @ right0), float(centre @ back0))))
    rel = torch.tensor([(math.degrees(r - research[0])) % 360.0 for r in research])
    ids = sv3d_camera_ids(torch.tensor(ours), torch.zeros(len(ours)), 1e-5, SV3D_AZIMUTH_SIGN)
    torch.testing.assert_close(torch.rad2deg(ids[:, 2]), rel, atol=1e-3, rtol=0)
    assert SV3D_AZIMUTH_SIGN == 1 and abs(ours[2] - 90.0) < 1e-3  # 90 deg towards the subject's left


def test_encoder_input_is_the_research_resize_and_imagenet_statistics():
    # A ramp 0..7 along x, resized 8 -> 4: Gaussian blur sigma 0.5, 3 taps, reflect; bilinear, corners aligned.
    ramp = torch.arange(8.0).view(1, 1, 1, 8).expand(1, 1, 8, 8)
    w = math.exp(-2.0) / (1 + 2 * math.exp(-2.0))
    edge0, edge7 = 2 * w * 1.0, (1 - 2 * w) * 7 + 2 * w * 6
    out = _blur_then_bilinear(ramp, 4, 4)[0, 0, 0]
    torch.testing.assert_close(out, torch.tensor([edge0, 7 / 3, 14 / 3, edge7]), atol=1e-5, rtol=0)
    grey = torch.full((1, 3, 40, 40), 0.5)
    pixels = encoder_pixels(grey, 8, 8)  # default: ImageNet statistics
    mean, std = ENCODER_NORMALIZATIONS["imagenet"]
    assert mean == (0.485, 0.456, 0.406) and std == (0.229, 0.224, 0.225)
    torch.testing.assert_close(pixels[0, :, 3, 3], torch.tensor([(0.5 - m) / s for m, s in zip(mean, std)]))
    clip = encoder_pixels(grey, 8, 8, "clip")[0, 0, 0, 0]
    assert abs(float(clip) - (0.5 - 0.48145466) / 0.26862954) < 1e-5
    with pytest.raises(ValueError, match="'lab'"):
        encoder_pixels(grey, 8, 8, "lab")


def test_precision_and_attention_defaults():
    from humansplat.multiview.load import default_precision
    from humansplat.multiview.pipeline_sv3d import SV3DPipeline
    from humansplat.multiview.tiny import tiny_sv3d_components

    assert default_precision("cpu") == (torch.device("cpu"), torch.float32)
    assert default_precision("cuda:0") == (torch.device("cuda:0"), torch.float16)
    pipe = SV3DPipeline(**tiny_sv3d_components(seed=0))
    assert pipe.configure_memory() == "sdpa" and pipe.attention_backend == "sdpa"
    with pytest.raises(ValueError, match="xformers package and a CUDA device"):
        pipe.configure_memory(attention="xformers")
    with pytest.raises(ValueError, match="cpu_offload needs a CUDA device"):
        pipe.configure_memory(cpu_offload=True, device="cpu")
    pipe.configure_memory(vae_slicing=True)
    assert pipe.vae.use_slicing


# ------------------------------------------------------------------------------------ cameras
def test_reframed_input_camera_is_exact(person):
    from humansplat.render.mesh import rasterize_mesh

    inp = prepare_synthesizer_input(person.crop, VIEW)
    assert inp.image.shape == (VIEW, VIEW, 3) and inp.image.dtype == np.uint8 and inp.mask.shape == (VIEW, VIEW)
    cover = rasterize_mesh(person.vertices, person.faces, inp.camera).coverage.numpy()
    mask = inp.mask > 0.5
    assert (cover & mask).sum() / (cover | mask).sum() > 0.9
    rows, cols = np.nonzero(mask)
    longer = max(rows.max() - rows.min(), cols.max() - cols.min()) + 1
    assert abs(longer - 0.95 * VIEW) <= 2  # the person fills 95 % of the square (rembg_and_center.py L25, L84-85)
    assert abs((rows.min() + rows.max() + 1) / 2 - VIEW / 2) <= 1
    assert abs((cols.min() + cols.max() + 1) / 2 - VIEW / 2) <= 1
    from scipy.ndimage import binary_dilation

    outside = ~binary_dilation(inp.mask > 0.01, iterations=2)
    assert outside.mean() > 0.3 and np.all(inp.image[outside] >= 250)  # white around the person
    with pytest.raises(ValueError, match="empty"):
        prepare_synthesizer_input(replace(person.crop, mask=np.zeros_like(person.crop.mask)), VIEW)


def test_generated_view_cameras_put_the_body_where_the_ground_truth_does(person):
    fit = person.as_body_fit()
    inp = prepare_synthesizer_input(person.crop, VIEW)
    az = [0.0, 90.0, 180.0, 270.0]
    cams = orbit_view_cameras(fit, inp.camera, az)
    torch.testing.assert_close(cams.viewmats[0], inp.camera.viewmats[0])
    assert torch.equal(cams.Ks, inp.camera.Ks.expand(4, 3, 3))  # the re-framed intrinsics, shared
    v = person.vertices
    centre = (v.amin(0) + v.amax(0)) / 2
    uv_c, _ = cams.project(centre[None])
    assert float((uv_c - uv_c[0]).abs().max()) < 1e-3  # the orbit axis goes through the body centre
    dist = (cams.centers - centre).norm(dim=-1)
    torch.testing.assert_close(dist, dist[:1].expand(4), atol=1e-5, rtol=0)  # the input's distance
    lm = person.landmarks3d
    left = lm[11] - lm[12]  # MediaPipe: 11 = left shoulder, 12 = right shoulder (true 3D points)
    assert float((cams.centers[1] - centre) @ left) > 0.0 > float((cams.centers[3] - centre) @ left)
    head = v[person.parts <= 1].mean(0)  # head and face vertices
    _, z_nose = cams.project(lm[0:1])
    _, z_head = cams.project(head[None])
    assert z_nose[0, 0] < z_head[0, 0] and z_nose[2, 0] > z_head[2, 0]  # the face, then the back of the head
    # Ground truth: the person turned by -a about the up axis, seen by the input camera.
    up = body_up_axis(fit)
    for i, a in enumerate(az):
        R = axis_rotation(up, torch.tensor([-a]))[0]
        turned = (v - centre) @ R.T + centre
        uv_true, _ = inp.camera.project(turned)
        uv_view, _ = cams[i].project(v)
        assert float((uv_true - uv_view).abs().max()) < 1e-3


# ------------------------------------------------------------------------------------ the fit
def test_fit_raises_novel_view_psnr_and_keeps_the_input_view(jacket, prior):
    """The fit without diffusion: the subject's true side and back renders (at the fitted body's scale)
    as the generated views; the evaluation harness scores its orbit views before and after."""
    from humansplat.avatar_views import input_view_quality
    from humansplat.eval import evaluate
    from humansplat.eval.harness import _render_truth, predicted_height

    subject, view, fit = jacket
    k = predicted_height(prior) / view.true_height  # the truth scaled about the camera centre: the photo is unchanged
    truth = replace(view, mesh=replace(view.mesh, vertices=view.mesh.vertices * k), centre=view.centre * k, distance=view.distance * k)
    cams = truth.orbit([90.0, 180.0, 270.0], EVAL_SIZE)
    rgb, alpha = _render_truth(truth.mesh, cams, 2)
    views = (rgb * 255.0 + 0.5).clip(0, 255).astype(np.uint8)
    # lr_means: 64 px pixels are ~3 cm; the default (tuned at 128 px) jitters them (held out -0.05 dB)
    opts = ViewsFitOptions(steps=30, lr_means=5e-4, densify_every=15, densify_from=5)
    fitted, stats = fit_gaussians_to_views(prior, fit, views, cams, opts, view_masks=alpha)

    def scores(gaussians) -> dict[str, float]:
        report = evaluate([subject], "views", (0.0,), EVAL_SIZE, reconstruct_fn=lambda photo: gaussians, use_lpips=False)
        return {v.view: v.raw.psnr for v in report.views}

    before, after = scores(prior), scores(fitted)
    gain = {name: after[name] - before[name] for name in before}
    # measured (jacket, 64 px, 30 steps, prior mode of issue 12 as the start): back 20.10 -> 21.44 dB,
    # sides 16.43/15.88 -> 17.86/17.36 dB, input view 23.84 -> 24.01 dB; held out (nobody supervised
    # them): 45/135/225/315 +0.45/+0.41/+0.30/+0.84 dB. Before the views could move what the photo sees
    # (in depth) and before the hidden Gaussians' colours were kept from the photo: back +1.27 dB, sides
    # ~0, held out -0.4 to -1.3 dB.
    assert gain["180"] > 0.8 and min(gain["90"], gain["270"]) > 0.8
    held = [gain["45"], gain["135"], gain["225"], gain["315"]]
    # The views between the supervised ones gain on average; none loses much. The bound is wider than one
    # run's numbers: the body fit under 2 threads differs in its last bits with what ran before it in the
    # process (measured: 45 deg -0.24 dB after another fit, above -0.2 dB alone), and 30 Adam steps amplify it.
    assert min(held) > -0.35 and sum(held) / 4 > 0.15
    assert gain["input"] > -0.5
    q_before, q_after = input_view_quality(prior, fit), input_view_quality(fitted, fit)
    assert q_after["input_view_psnr_db"] >= q_before["input_view_psnr_db"] - 0.5
    assert q_after["input_view_alpha_iou"] >= q_before["input_view_alpha_iou"] - 0.005
    assert stats.steps == 30 and stats.loss_last < stats.loss_first
    assert stats.densified > 0 and len(prior) <= stats.gaussians_end <= 1.5 * len(prior)
    assert stats.gaussians_end == len(fitted) and stats.backend == "torch"
    assert torch.isfinite(fitted.means).all() and torch.isfinite(fitted.sh0).all()


def test_fit_keeps_the_photos_pixels_and_stops_at_the_deadline(jacket, prior):
    fit = jacket[2]
    inp = prepare_synthesizer_input(fit.crop, 48)
    cams = orbit_view_cameras(fit, inp.camera, [180.0])
    views = np.full((1, 48, 48, 3), 200, np.uint8)
    opts = ViewsFitOptions(steps=5, densify_every=0, hierarchical_weight=0.0)
    fitted, stats = fit_gaussians_to_views(prior, fit, views, cams, opts)
    assert stats.steps == 5 and stats.requested == 5
    uv0, _ = fit.camera.project(prior.means)
    uv1, _ = fit.camera.project(fitted.means)
    assert float((uv0 - uv1).abs().max()) < 1e-3  # means move along the input camera's rays only
    # ... and the views move what the photo sees too (in depth only, bounded), its scales with its depth
    from humansplat.views_mode.fit import input_visible

    seen, _ = input_visible(prior, fit.camera, torch.as_tensor(fit.crop.mask, dtype=torch.float32))
    origin = fit.camera.centers[0]
    d0, d1 = (prior.means - origin).norm(dim=-1), (fitted.means - origin).norm(dim=-1)
    moved = (d1 - d0)[seen].abs()
    assert float(moved.max()) > 1e-3 and float(moved.max()) <= opts.max_depth_offset_m * 1.3  # 1.3: scene scale
    from humansplat.views_mode.fit import _Params

    params = _Params(prior, origin)  # twice as far: twice as large, same pixel
    with torch.no_grad():
        params.tensors["depth"].mul_(2.0)
    far = params.gaussians()
    torch.testing.assert_close(far.log_scales, prior.log_scales + math.log(2.0), atol=1e-5, rtol=0)
    torch.testing.assert_close(fit.camera.project(far.means)[0], uv0, atol=1e-3, rtol=0)
    with pytest.raises(TimeLimitError, match="views fit"):  # a run past its limit stops after one step
        fit_gaussians_to_views(prior, fit, views, cams, opts, deadline=Deadline(time.monotonic() - 1.0, 1.0))
    with pytest.raises(ValueError, match="1 cameras"):
        fit_gaussians_to_views(prior, fit, np.zeros((2, 48, 48, 3), np.uint8), cams, opts)
    with pytest.raises(ValueError, match="steps must be >= 0"):
        ViewsFitOptions(steps=-1)


def test_mask_from_white():
    img = torch.ones(1, 2, 2, 3)
    img[0, 0, 0] = torch.tensor([0.2, 0.5, 0.9])
    img[0, 1, 1] = torch.tensor([0.95, 0.95, 0.95])
    torch.testing.assert_close(mask_from_white(img)[0], torch.tensor([[1.0, 0.0], [0.0, 0.5]]))


# ------------------------------------------------------------------------------------ end to end
def test_views_mode_runs_end_to_end_with_a_tiny_synthesizer_in_the_genhuman3d_layout(
    jacket, prior, tmp_path, monkeypatch
):
    from humansplat.multiview.load import load_sv3d_pipeline
    from humansplat.multiview.tiny import TINY_IMAGE_SIZE, save_tiny_weights

    save_tiny_weights(tmp_path)  # GenHuman3D: unet/*.fp16.safetensors, vae/, image_encoder/, ...
    monkeypatch.setenv("HUMANSPLAT_WEIGHTS", str(tmp_path))
    pipe = load_sv3d_pipeline(builtin_configs=False)
    pipe.set_progress_bar_config(disable=True)
    seen = []
    fit = jacket[2]
    F = 4
    opts = ViewsModeOptions(
        num_frames=F, size=TINY_IMAGE_SIZE, num_inference_steps=2, fit=ViewsFitOptions(steps=2, densify_every=0, size=32)
    )
    out = run_views_mode(fit, prior, pipe, opts, progress=lambda f, m: seen.append(f))
    assert out.views.shape == (F, TINY_IMAGE_SIZE, TINY_IMAGE_SIZE, 3)
    assert len(out.view_cameras) == F and out.view_cameras.width == TINY_IMAGE_SIZE
    # the loader's labels for 4 views: every 9th of 36 renders labelled on np.linspace(-180, 180, 36)
    torch.testing.assert_close(out.azimuths_deg, torch.tensor([0.0, 324 / 3.5, 648 / 3.5, 972 / 3.5]))
    assert set(out.weights) == {"unet", "vae", "image_encoder"}
    assert all(w.startswith("loaded: ") and str(tmp_path) in w for w in out.weights.values())
    assert out.stats.steps == 2 and torch.isfinite(out.gaussians.means).all()
    assert seen == sorted(seen) and seen[-1] == pytest.approx(1.0)


# ------------------------------------------------------------------------------------ the mode rule
@pytest.mark.parametrize("device", ["cpu", "cuda"])
@pytest.mark.parametrize("synth", [False, True])
@pytest.mark.parametrize("recon", [False, True])
def test_auto_mode_for_every_combination(device, synth, recon):
    mode, reasons = choose_mode({"synthesizer": synth, "reconstructor": recon}, device)
    expected = "prior" if device == "cpu" or not synth else ("full" if recon else "views")
    assert mode == expected
    assert (reasons == []) == (expected == "full")
    assert any("CUDA" in r for r in reasons) == (device == "cpu")


def test_explicit_modes():
    assert choose_mode({}, "cpu", "prior") == ("prior", [])
    assert choose_mode({"synthesizer": True}, "cuda", "views") == ("views", [])
    assert choose_mode({"synthesizer": True}, "cpu", "views")[0] == "views"
    with pytest.raises(ValueError, match="needs the reconstructor weights"):
        choose_mode({"synthesizer": True}, "cuda", "full")
    with pytest.raises(ValueError, match="needs the synthesizer weights"):
        choose_mode({}, "cuda", "views")
    with pytest.raises(ValueError, match="unknown mode 'best'"):
        choose_mode({}, "cpu", "best")


def test_synthesizer_status_reads_the_weights_folder(tmp_path, monkeypatch):
    from humansplat.multiview.tiny import tiny_sv3d_components
    from humansplat.views_mode import synthesizer_status

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HUMANSPLAT_WEIGHTS", str(tmp_path))
    parts = tiny_sv3d_components(seed=0)
    parts["unet"].save_pretrained(tmp_path / "unet")
    ok, message = synthesizer_status()
    assert not ok and "vae" in message and "image_encoder" in message and "unet:" not in message
    parts["vae"].save_pretrained(tmp_path / "vae")
    parts["image_encoder"].save_pretrained(tmp_path / "image_encoder")
    assert synthesizer_status()[0]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fit_runs_on_cuda_with_gsplat(jacket, prior):
    """On CUDA with gsplat installed the fit renders with gsplat, stays on the GPU and lowers its loss
    like the CPU fit does."""
    pytest.importorskip("gsplat")
    fit = jacket[2]
    inp = prepare_synthesizer_input(fit.crop, 64)
    cams = orbit_view_cameras(fit, inp.camera, [90.0, 180.0])
    views = np.full((2, 64, 64, 3), 200, np.uint8)
    fitted, stats = fit_gaussians_to_views(prior.to("cuda"), fit, views, cams, ViewsFitOptions(steps=10))
    assert stats.backend == "gsplat"
    assert fitted.device.type == "cuda" and stats.steps == 10
    assert torch.isfinite(fitted.means).all() and stats.loss_last < stats.loss_first


def test_reconstruct_in_views_mode_says_so_and_names_its_weights(tmp_path, monkeypatch):
    """The public entry point: ``reconstruct(photo, mode="views")`` with a tiny random synthesizer saved
    in the GenHuman3D layout runs on the CPU, and the Result says which mode and which weights ran."""
    from humansplat import api, gpu_stage
    from humansplat.multiview.tiny import save_tiny_weights
    from humansplat.prior.synthetic import make_synthetic_person

    save_tiny_weights(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HUMANSPLAT_WEIGHTS", str(tmp_path))
    monkeypatch.setattr(gpu_stage, "_CACHE", {})
    photo = make_synthetic_person(seed=3, size=160).crop.rgb
    assert api.check_options("auto", 0, 64, 0, "cpu").mode == "prior"  # auto needs a GPU for views
    opts = ViewsModeOptions(
        num_frames=4, size=32, num_inference_steps=1, fit=ViewsFitOptions(steps=2, densify_every=0, size=32)
    )
    updates = list(
        api.iter_reconstruct(photo, mode="views", frames=0, resolution=64, device="cpu", views_options=opts)
    )
    stages = [u.stage for u in updates]
    assert stages.index("fit") < stages.index("synthesize") < stages.index("reconstruct")  # views before the fit
    synth = updates[stages.index("synthesize")]
    assert synth.gaussians is None and synth.views.shape[0] == 4 and synth.views.dtype == np.uint8
    fractions = [u.fraction for u in updates]
    assert fractions == sorted(fractions)
    result = updates[-1].result
    np.testing.assert_array_equal(result.views, synth.views)  # the strip is the generated views
    assert result.mode == "views"
    assert set(result.weights) == {"unet", "vae", "image_encoder"}
    assert all(str(tmp_path) in w for w in result.weights.values()), result.weights
    assert result.views.shape[0] == 4 and len(result.view_cameras) == 4
    assert "views" in result.summary()


@pytest.mark.parametrize(
    ("synth", "recon", "device", "expected"),
    [
        (True, True, "cuda", "full"),
        (True, False, "cuda", "views"),
        (False, True, "cuda", "prior"),
        (True, True, "cpu", "prior"),
    ],
)
def test_check_options_auto_follows_the_statuses_and_the_device(monkeypatch, synth, recon, device, expected):
    """``api.check_options("auto")`` with simulated weights (the status probes patched) and devices
    (a ``cuda`` device object needs no GPU: only its type is read)."""
    from humansplat import api
    from humansplat import weights

    monkeypatch.setattr(api, "network_status", lambda: (recon, "reconstructor probe"))
    monkeypatch.setattr(weights, "synthesizer_status", lambda: (synth, "SV3D probe"))
    opts = api.check_options("auto", 0, 64, 0, device)
    assert opts.mode == expected
    notes = " ".join(opts.notes)
    if expected == "prior":
        assert "reconstructor probe" in notes and "SV3D probe" in notes  # why the others did not run
        assert ("no CUDA GPU" in notes) == (device == "cpu")
    elif expected == "views":
        assert "no trained reconstructor weights" in notes


def test_memory_setting_and_hub_weights_are_named(monkeypatch):
    from humansplat.multiview.load import ENV_MEMORY, memory_from_env
    from humansplat.views_mode import describe_source

    monkeypatch.delenv(ENV_MEMORY, raising=False)
    assert memory_from_env() == {"cpu_offload": False, "vae_slicing": False}
    monkeypatch.setenv(ENV_MEMORY, "vae_slicing")
    assert memory_from_env() == {"cpu_offload": False, "vae_slicing": True}
    monkeypatch.setenv(ENV_MEMORY, "low")
    assert memory_from_env() == {"cpu_offload": True, "vae_slicing": True}
    monkeypatch.setenv(ENV_MEMORY, "offload")
    with pytest.raises(ValueError, match=r"unknown \['offload'\]"):
        memory_from_env()
    monkeypatch.delenv("HUMANSPLAT_REVISION_UNET", raising=False)
    hub = "loaded: /cache/hub/models--paulpanwang--GenHuman3D/snapshots/" + "ab12" * 10 + "/unet"
    assert describe_source(hub, "unet") == (
        "loaded: paulpanwang/GenHuman3D/unet (Hub, commit ab12ab12ab12, revision main (not pinned))"
    )
    monkeypatch.setenv("HUMANSPLAT_REVISION_UNET", "v1.0")
    assert describe_source(hub, "unet").endswith("revision v1.0)")
    assert describe_source("loaded: /weights/unet", "unet") == "loaded: /weights/unet"


def test_explicit_views_mode_fetches_on_first_use_only_when_downloads_are_allowed(monkeypatch):
    """``mode="views"`` asked for explicitly may download the synthesizer (never ``auto``); offline it is
    refused with the message that says how to fetch the weights."""
    from humansplat import api, hub
    from humansplat.errors import WeightsUnavailableError

    monkeypatch.setattr(api, "network_status", lambda: (False, "no reconstructor weights (test)"))
    monkeypatch.setenv("HUMANSPLAT_WEIGHTS", "/nonexistent-humansplat-weights")
    monkeypatch.setattr(hub, "hub_offline", lambda: True)
    with pytest.raises(WeightsUnavailableError, match="views mode cannot run.*unet"):
        api.check_options("views", 0, 64, 0, "cpu")
    monkeypatch.setattr(hub, "hub_offline", lambda: False)
    opts = api.check_options("views", 0, 64, 0, "cpu")
    assert opts.mode == "views" and any("fetched from the Hub on first use" in n for n in opts.notes)
    assert api.check_options("auto", 0, 64, 0, "cpu").mode == "prior"  # auto never downloads
