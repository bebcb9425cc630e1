"""Training: synthetic multi-view data, the folder dataset, the trainer, checkpoints and the CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from humansplat.cameras import invert_rigid
from humansplat.train.data import FolderDataset, SyntheticPeople, save_sample
from humansplat.train.ema import EMA
from humansplat.train.trainer import CONFIG_DIR, TrainConfig, Trainer, cosine_with_warmup, param_groups

S = 32  # px


@pytest.fixture(scope="module")
def dataset():
    return SyntheticPeople(num_samples=2, image_size=S, extra_views=2, seed=0)


def _config(**overrides) -> TrainConfig:
    return TrainConfig.preset("tiny", **overrides)


# ---------------------------------------------------------------------------------------------- data
def test_synthetic_sample_views_and_masks(dataset):
    s = dataset[0]
    V = 1 + 4 + 2
    assert s.images.shape == (V, S, S, 3) and s.masks.shape == (V, S, S) and s.part_masks.shape == (V, 7, S, S)
    assert s.context.tolist() == [0, 1, 2, 3, 4] and s.azimuths_deg[:5].tolist() == [0.0, 0.0, 90.0, 180.0, 270.0]
    extra = s.azimuths_deg[5:]
    assert all(float(a) % 10 == 0 and float(a) not in (0.0, 90.0, 180.0, 270.0) for a in extra)
    assert torch.equal(s.cameras.viewmats[0], torch.eye(4))  # view 0: the photo's camera = the world frame
    # the orbit turns about the body's up axis through its centre at elevation 0: every orbit camera
    # shares one image "up" and sits level with the centre along it (humansplat.orbit)
    centre = (s.vertices.amin(0) + s.vertices.amax(0)) / 2
    up = -s.cameras.camtoworlds[1:, :3, 1]
    torch.testing.assert_close(up, up[0].expand_as(up), atol=1e-5, rtol=0)
    torch.testing.assert_close((s.cameras.centers[1:] - centre) @ up[0], torch.zeros(V - 1), atol=1e-4, rtol=0)
    torch.testing.assert_close(s.masks, s.part_masks.sum(1))
    bg = s.masks == 0
    assert bool((s.images[bg] == 1.0).all())  # white background
    inside = s.masks == 1
    assert float(s.images[inside].mean()) < 0.9 and int(inside.sum()) > 7 * 40
    again = SyntheticPeople(num_samples=2, image_size=S, extra_views=2, seed=0)[0]
    assert torch.equal(again.images, s.images)  # deterministic for a seed
    other = dataset[1]
    assert not torch.equal(other.vertices, s.vertices)


def test_folder_dataset_round_trip_and_reframing(dataset, tmp_path):
    s = dataset[0]
    folder = save_sample(s, tmp_path / "people" / "subject_a")
    loaded = FolderDataset(tmp_path / "people", supersample=2)[0]
    torch.testing.assert_close(loaded.images, s.images, atol=0.5 / 255 + 1e-6, rtol=0)
    torch.testing.assert_close(loaded.cameras.viewmats, s.cameras.viewmats)
    torch.testing.assert_close(loaded.vertices, s.vertices)
    assert torch.equal(loaded.context, s.context)
    assert (loaded.part_masks - s.part_masks).abs().max() < 1e-6

    # the same data in another world frame, the input frame listed third: the loader undoes both
    meta = json.loads((folder / "cameras.json").read_text())
    ang = 0.7
    T = torch.eye(4)
    T[:3, :3] = torch.tensor([[math.cos(ang), 0, math.sin(ang)], [0, 1, 0], [-math.sin(ang), 0, math.cos(ang)]])
    T[:3, 3] = torch.tensor([0.3, -1.0, 2.0])  # old world -> new world
    for f in meta["frames"]:
        f["viewmat"] = (torch.tensor(f["viewmat"]) @ invert_rigid(T)).tolist()
        f["azimuth_deg"] += 40.0
    order = [2, 0, 1] + list(range(3, len(meta["frames"])))
    meta["frames"] = [meta["frames"][i] for i in order]
    meta["input"] = 1
    del meta["context"]  # chosen by azimuth instead
    (folder / "cameras.json").write_text(json.dumps(meta))
    body = np.load(folder / "body.npz")
    verts = body["vertices"] @ T[:3, :3].numpy().T + T[:3, 3].numpy()
    np.savez(folder / "body.npz", vertices=verts, faces=body["faces"], parts=body["parts"])
    moved = FolderDataset(tmp_path / "people", image_size=S)[0]
    torch.testing.assert_close(moved.vertices, s.vertices, atol=1e-5, rtol=0)
    torch.testing.assert_close(moved.cameras.viewmats[0], torch.eye(4), atol=1e-5, rtol=0)
    # frames now: input (old 0), old 2, old 1, old 3...; context by azimuth: 0 -> input, 90 -> old 2, ...
    torch.testing.assert_close(moved.cameras.viewmats[1], s.cameras.viewmats[2], atol=1e-5, rtol=0)
    assert moved.context.tolist() == [0, 0, 1, 3, 4]


def test_folder_dataset_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        FolderDataset(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="cameras.json"):
        FolderDataset(tmp_path / "empty")


# ---------------------------------------------------------------------------------------------- optimiser
def test_schedule_and_param_groups():
    assert cosine_with_warmup(0, 4, 20) == pytest.approx(0.2)
    assert cosine_with_warmup(4, 4, 20) == pytest.approx(1.0)
    assert cosine_with_warmup(12, 4, 20, 0.1) == pytest.approx(0.55)
    assert cosine_with_warmup(20, 4, 20, 0.1) == pytest.approx(0.1)
    from humansplat.network.transformer import LatentReconstructionTransformer

    model = LatentReconstructionTransformer.tiny()
    decay, no_decay = param_groups(model, 0.05)

    def ids(group):
        return {id(p) for p in group["params"]}

    assert decay["weight_decay"] == 0.05 and no_decay["weight_decay"] == 0.0
    assert id(model.norm_out.weight) in ids(no_decay) and id(model.norm_out.bias) in ids(no_decay)
    assert id(model.head.proj.bias) in ids(no_decay) and id(model.head.proj.weight) in ids(decay)
    assert len(ids(decay)) + len(ids(no_decay)) == len(list(model.parameters()))


def test_config_checks():
    with pytest.raises(ValueError, match="unknown training preset 'huge'"):
        TrainConfig.preset("huge")
    with pytest.raises(ValueError, match="mixed_precision"):
        _config(mixed_precision="fp8")
    with pytest.raises(ValueError, match="image_size 36 must be a multiple of 8"):
        Trainer(_config(image_size=36, eval_samples=0), dataset=[])


def test_yaml_configurations(tmp_path):
    shipped = {p.stem for p in CONFIG_DIR.glob("*.yaml")}
    assert {"cpu_smoke", "one_gpu", "paper_256", "paper_512", "synthesizer_tiny", "synthesizer"} <= shipped
    for name in shipped:
        assert TrainConfig.load(name).name == name
    p512 = TrainConfig.load("paper_512")  # base chain: paper_512 -> paper_256 -> preset base
    assert (p512.image_size, p512.steps, p512.lr, p512.model_preset) == (512, 20_000, 1e-4, "base")
    assert p512.init_from == "runs/paper_256/reconstructor" and p512.gradient_checkpointing
    p256 = TrainConfig.load("paper_256")
    assert (p256.lr, p256.warmup_steps, p256.betas, p256.weight_decay) == (4e-4, 2000, (0.9, 0.95), 0.05)
    assert TrainConfig.load("one_gpu").grad_accum * TrainConfig.load("one_gpu").batch_size == 32
    own = tmp_path / "mine.yaml"
    own.write_text("base: cpu_smoke\nsteps: 7\ncontext_azimuths: [0, 120, 240]\n")
    cfg = TrainConfig.load(own, seed=3)
    assert (cfg.name, cfg.steps, cfg.num_samples, cfg.seed, cfg.context_azimuths) == ("mine", 7, 4, 3, (0.0, 120.0, 240.0))
    own.write_text("stepz: 7\n")
    with pytest.raises(ValueError, match=r"unknown TrainConfig fields \['stepz'\]"):
        TrainConfig.load(own)
    with pytest.raises(ValueError, match="no training configuration 'nope'"):
        TrainConfig.load("nope")


def test_view_metrics_by_group():
    from humansplat.train.evaluation import view_groups, view_metrics

    groups = view_groups(torch.tensor([0.0, 0.0, 90.0, 180.0, 40.0]), torch.tensor([0, 1, 2, 3]))
    assert groups == [("input",), ("front",), ("side",), ("back",), ("near side", "novel")]
    gt = torch.full((3, 16, 16, 3), 0.5)
    masks = torch.zeros(3, 16, 16)
    masks[:, :, :8] = 1.0
    alpha = torch.zeros(3, 16, 16, 1)  # the renderer's (V, H, W, 1)
    alpha[:, :, :4] = 1.0  # half of the mask covered
    alpha[2] = masks[2, ..., None]
    pred = gt + torch.tensor([0.1, 0.01, 0.0]).view(3, 1, 1, 1)
    pred[2, 0, 0] = 0.6  # one pixel off by 0.1
    out = view_metrics(pred, alpha, gt, masks, [("input",), ("side",), ("back", "novel")])
    assert out["input"]["psnr"] == pytest.approx(20.0) and out["side"]["psnr"] == pytest.approx(40.0)
    assert out["input"]["iou"] == pytest.approx(0.5) and out["novel"]["iou"] == 1.0 and out["back"] == out["novel"]
    assert out["side"]["ssim"] > 0.99 and out["all"]["psnr"] == pytest.approx((20 + 40 + out["novel"]["psnr"]) / 3)
    assert out["novel"]["psnr"] == pytest.approx(-10 * math.log10(0.01 / (16 * 16)))


# ---------------------------------------------------------------------------------------------- training
@pytest.fixture(scope="module")
def trained(dataset, tmp_path_factory):
    """A 30-step run on the 2 synthetic people, held out: 1 other person; saved.
    (trainer, training-set scores before, after, held-out scores before, result)."""
    trainer = Trainer(_config(steps=30), dataset=dataset)
    before, held_before = trainer.evaluate(), trainer.evaluate_heldout()
    out = tmp_path_factory.mktemp("run")
    result = trainer.train(out_dir=out)
    return trainer, before, trainer.evaluate(), held_before, result


def test_training_lowers_the_loss_and_raises_heldout_psnr(trained):
    trainer, before, after, held_before, result = trained
    assert result.steps == 30 and len(result.history) == 30
    assert after["loss"] < 0.85 * before["loss"], (before, after)  # seen: 0.346 -> 0.272 (-21 %)
    assert after["psnr"] > before["psnr"] + 0.3, (before, after)  # seen: 15.40 -> 16.02 dB
    held_after = result.evaluations[-1]
    assert held_after["step"] == 30 and held_before["step"] == 0
    # a person never trained on: PSNR and SSIM over all its views rise (seen: 15.76 -> 16.16 dB, 0.273 -> 0.308)
    assert held_after["all"]["psnr"] > held_before["all"]["psnr"] + 0.25, (held_before["all"], held_after["all"])
    assert held_after["all"]["ssim"] > held_before["all"]["ssim"] + 0.01
    assert set(held_after) >= {"all", "input", "front", "side", "back", "novel"}
    assert set(held_after["novel"]) == {"psnr", "psnr_masked", "ssim", "iou"}
    assert all(math.isfinite(h.loss) and h.grad_norm > 0 for h in result.history)
    lrs = [h.lr for h in result.history]
    assert lrs[0] < lrs[2] and lrs[-1] < lrs[2]  # warm-up then decay
    assert "perceptual (LPIPS) term skipped: no lpips_fn given" in result.notes
    assert {"rec/rgb", "rec/mask", "hier/total", "part/head"} <= set(result.history[0].terms)
    assert (result.out_dir / "samples" / "step_0000030.png").is_file()
    assert list((result.out_dir / "logs").glob("events.out.tfevents.*"))  # TensorBoard (installed here)
    assert [p.name for p in (result.out_dir / "checkpoints").glob("*.pt")] == ["step_0000030.pt"]


def test_export_records_provenance_and_loads(trained):
    from humansplat.network.transformer import LatentReconstructionTransformer

    trainer, _, _, _, result = trained
    out = result.out_dir
    info = json.loads((out / "training.json").read_text())
    assert info["trained"] is True and info["steps"] == 30 and "synthetic anny people" in info["data"]
    assert info["final_loss"] == pytest.approx(result.history[-1].loss) and len(info["history"]) == 30
    prov = json.loads((out / "reconstructor" / "config.json").read_text())["provenance"]
    assert prov["vae"]["repo"] == "tiny-random(seed=0)" and prov["vae"]["scaling_factor"] == pytest.approx(0.18215)
    assert (prov["image_size"], prov["latent_size"], prov["num_views"], prov["body_model"]) == (32, 8, 5, "anny")
    assert (prov["num_subjects"], prov["steps"], prov["smoke"], prov["config"]) == (2, 30, True, "tiny")
    assert prov["heldout"]["psnr"] == pytest.approx(result.heldout.psnr) and prov["heldout"]["subjects"] == 1
    model = LatentReconstructionTransformer.from_pretrained(out / "reconstructor")
    assert model.has_trained_weights and model.config.trained
    assert "SMOKE RUN" in model.weights_status and "held-out PSNR" in model.weights_status
    for name, value in trainer.model.state_dict().items():
        assert torch.equal(model.state_dict()[name], value.cpu()), name
    assert not LatentReconstructionTransformer.tiny().has_trained_weights


def test_pipeline_runs_the_export_only_when_its_provenance_matches(trained, tmp_path):
    from humansplat.errors import WeightsUnavailableError
    from humansplat.multiview.tiny import tiny_sv3d_components
    from humansplat.prior.synthetic import make_synthetic_person
    from humansplat.network.pipeline_humansplat import HumanSplatPipeline
    from humansplat.network.transformer import LatentReconstructionTransformer

    model = LatentReconstructionTransformer.from_pretrained(trained[-1].out_dir / "reconstructor")
    fit = make_synthetic_person(seed=7, size=32).as_body_fit()
    for seed in (0, 1):  # seed 0: the trainer's tiny VAE; seed 1: another VAE
        HumanSplatPipeline(reconstructor=model, **tiny_sv3d_components(seed)).save_pretrained(tmp_path / f"p{seed}")
    with pytest.raises(WeightsUnavailableError, match="VAE weights: trained with tiny-random"):
        HumanSplatPipeline.from_pretrained(tmp_path / "p1")
    pipe = HumanSplatPipeline.from_pretrained(tmp_path / "p0")
    pipe.set_progress_bar_config(disable=True)
    kw = dict(generator=torch.Generator().manual_seed(0), num_inference_steps=1, num_frames=4, max_guidance_scale=1.0)
    with pytest.raises(WeightsUnavailableError, match=r"number of views 5 \(trained\) vs 3"):
        pipe(fit, view_azimuths=(0.0, 180.0), **kw)
    with pytest.raises(WeightsUnavailableError, match="latent resolution 8"):
        pipe(fit, height=64, width=64, **kw)
    out = pipe(fit, **kw)
    assert out.weights["reconstructor"].startswith("trained: ") and len(out.gaussians.means) > 0


def test_auto_refuses_a_smoke_checkpoint(trained, monkeypatch):
    from humansplat.network.pipeline_humansplat import network_status

    out = trained[-1].out_dir
    monkeypatch.setenv("HUMANSPLAT_WEIGHTS", str(out))
    ok, message = network_status()
    assert not ok and "smoke run" in message and "auto never uses it" in message
    from humansplat import api

    assert api.network_status() == (ok, message)  # what mode="auto" asks
    cfg_file = out / "reconstructor" / "config.json"
    saved = cfg_file.read_text()
    try:
        cfg = json.loads(saved)
        cfg["provenance"]["smoke"] = False
        cfg["provenance"]["heldout"] = None
        cfg_file.write_text(json.dumps(cfg))
        ok, message = network_status()
        assert not ok and "records no held-out scores" in message
    finally:
        cfg_file.write_text(saved)


def test_resume_gives_the_uninterrupted_losses(dataset, tmp_path):
    """Interrupted after 2 steps (EMA, 2 micro-batches, latent noise): the resumed run's steps 3-4
    have exactly the losses, weights and EMA of the run that never stopped."""
    cfg = _config(steps=4, ema_decay=0.8, grad_accum=2, latent_noise=0.05, eval_samples=0)
    straight = Trainer(cfg, dataset=dataset)
    straight.train()
    first = Trainer(cfg, dataset=dataset)
    first.train(steps=2, out_dir=tmp_path)
    resumed = Trainer(cfg, dataset=dataset)
    path = resumed.load_state(tmp_path)
    assert path.name == "step_0000002.pt" and resumed.step == 2 and len(resumed.history) == 2
    resumed.train()
    assert [h.loss for h in resumed.history] == [h.loss for h in straight.history]  # bit for bit on one CPU
    assert [h.lr for h in resumed.history] == [h.lr for h in straight.history]
    for name, value in straight.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[name], value), name
    for name, value in straight.ema.shadow.items():
        assert torch.equal(resumed.ema.shadow[name], value), name
    # the sample stream: 2 micro-batches per step, a new permutation each epoch of 2 people
    assert sorted(straight.batch_indices(0, 0) + straight.batch_indices(0, 1)) == [0, 1]


def test_ema_after_one_step_follows_the_formula(dataset):
    d = 0.9
    trainer = Trainer(_config(ema_decay=d, eval_samples=0), dataset=dataset)
    w0 = {k: p.detach().clone() for k, p in trainer.model.named_parameters()}
    trainer.train_step()
    for k, p in trainer.model.named_parameters():
        assert not torch.equal(p, w0[k]) or p.grad is None or float(p.grad.abs().max()) == 0, k
        torch.testing.assert_close(trainer.ema.shadow[k], d * w0[k] + (1 - d) * p.detach(), rtol=1e-6, atol=1e-7)
    with trainer.ema.applied(trainer.model) as m:
        torch.testing.assert_close(m.norm_out.weight, trainer.ema.shadow["norm_out.weight"])
    assert not torch.equal(trainer.model.norm_out.weight, trainer.ema.shadow["norm_out.weight"])  # restored
    with pytest.raises(ValueError, match=r"EMA decay must be in \[0, 1\)"):
        EMA(trainer.model, 1.0)


def test_gradient_checkpointing_gives_the_same_gradients(dataset):
    grads = []
    for flag in (False, True):
        trainer = Trainer(_config(gradient_checkpointing=flag, eval_samples=0), dataset=dataset)
        assert trainer.model.gradient_checkpointing is flag
        loss = trainer.compute_loss([0])[0]
        loss.backward()
        grads.append(torch.cat([p.grad.flatten() for p in trainer.model.parameters() if p.grad is not None]))
    torch.testing.assert_close(grads[0], grads[1], atol=1e-6, rtol=1e-4)


def test_mixed_precision_is_noted_and_ignored_on_cpu(dataset):
    trainer = Trainer(_config(mixed_precision="bf16", eval_samples=0), dataset=dataset, device="cpu")
    assert trainer.amp_dtype is None
    assert any("autocast runs on CUDA only" in n for n in trainer.notes)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_bf16_step_on_cuda(dataset):
    trainer = Trainer(_config(mixed_precision="bf16", steps=2, eval_samples=0), dataset=dataset, device="cuda")
    assert trainer.amp_dtype == torch.bfloat16
    result = trainer.train()
    assert all(math.isfinite(h.loss) for h in result.history)


def test_synthesizer_fine_tuning_smoke(dataset, tmp_path):
    from humansplat.multiview.unet import SV3DUNet

    cfg = TrainConfig.load("synthesizer_tiny", steps=3)
    trainer = Trainer(cfg, dataset=dataset)
    start = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    result = trainer.train(out_dir=tmp_path)
    assert all(math.isfinite(h.loss) and h.grad_norm > 0 and "edm" in h.terms for h in result.history)
    assert math.isfinite(result.evaluations[-1]["loss"]) and result.heldout is None
    unet = SV3DUNet.from_pretrained(tmp_path / "unet")
    changed = [k for k, v in unet.state_dict().items() if not torch.equal(v, start[k])]
    assert len(changed) > 10
    assert json.loads((tmp_path / "training.json").read_text())["target"] == "synthesizer"


def test_cli(tmp_path, capsys):
    from humansplat.train.__main__ import main

    out = tmp_path / "cli"
    args = ["--config", "tiny", "--steps", "2", "--samples", "1", "--out", str(out), "--log-every", "1", "--no-progress"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "step      2/2" in text and f"HUMANSPLAT_WEIGHTS={out}" in text and "held-out: PSNR" in text
    assert json.loads((out / "reconstructor" / "config.json").read_text())["trained"] is True
    assert main(args[:2] + ["--steps", "3", "--samples", "1", "--out", str(out), "--resume", "--no-progress"]) == 0
    assert "resumed from" in capsys.readouterr().out and json.loads((out / "training.json").read_text())["steps"] == 3
    assert main(["--steps", "1", "--image-size", "36", "--out", str(tmp_path / "bad")]) == 2
    assert "must be a multiple of 8" in capsys.readouterr().err
    assert main(["--config", "nope", "--out", str(tmp_path / "bad")]) == 2
    assert "no training configuration 'nope'" in capsys.readouterr().err


def test_synthesizer_latents_as_at_inference(dataset):
    """latent_source="synthesizer": the input view's VAE latent, then SV3D samples at the context azimuths."""
    trainer = Trainer(_config(latent_source="synthesizer", synthesizer_steps=1, eval_samples=0), dataset=dataset)
    log = trainer.train_step()
    s = dataset[trainer.batch_indices(0)[0]]  # the sample of step 0
    latents, teacher = trainer._latents[trainer.batch_indices(0)[0]], trainer.encode_views(s.images[s.context])
    assert latents.shape == teacher.shape and math.isfinite(log.loss)
    torch.testing.assert_close(latents[0], teacher[0], atol=1e-5, rtol=1e-5)  # the photo's own latent
    assert not torch.allclose(latents[1:], teacher[1:], atol=1e-2)  # generated views, not the truth
