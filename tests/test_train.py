"""Training: synthetic multi-view data, the folder dataset, the trainer, checkpoints and the CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from humansplat.cameras import invert_rigid
from humansplat.train.data import FolderDataset, SyntheticPeople, save_sample
from humansplat.train.trainer import TrainConfig, Trainer, cosine_with_warmup, param_groups

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
        Trainer(_config(image_size=36), dataset=[])


# ---------------------------------------------------------------------------------------------- training
@pytest.fixture(scope="module")
def trained(dataset, tmp_path_factory):
    """A 20-step run on the 2 synthetic people, saved; (trainer, loss before, loss after, result)."""
    trainer = Trainer(_config(steps=20), dataset=dataset)
    before = trainer.evaluate()
    out = tmp_path_factory.mktemp("run")
    result = trainer.train(out_dir=out)
    return trainer, before, trainer.evaluate(), result


def test_training_lowers_the_loss(trained):
    _, before, after, result = trained
    assert result.steps == 20 and len(result.history) == 20
    assert after["loss"] < 0.9 * before["loss"], (before, after)  # seen: 0.344 -> 0.29
    assert after["psnr"] > before["psnr"]
    assert all(math.isfinite(h.loss) and h.grad_norm > 0 for h in result.history)
    lrs = [h.lr for h in result.history]
    assert lrs[0] < lrs[2] and lrs[-1] < lrs[2]  # warm-up then decay
    assert "perceptual (LPIPS) term skipped: no lpips_fn given" in result.notes
    assert {"rec/rgb", "rec/mask", "hier/total", "part/head"} <= set(result.history[0].terms)


def test_checkpoint_reloads_as_trained(trained):
    from humansplat.multiview.tiny import tiny_sv3d_components
    from humansplat.network.pipeline_humansplat import HumanSplatPipeline
    from humansplat.network.transformer import LatentReconstructionTransformer

    trainer, _, _, result = trained
    out = result.out_dir
    info = json.loads((out / "training.json").read_text())
    assert info["trained"] is True and info["steps"] == 20 and "synthetic anny people" in info["data"]
    assert info["final_loss"] == pytest.approx(result.history[-1].loss) and len(info["history"]) == 20
    model = LatentReconstructionTransformer.from_pretrained(out / "reconstructor")
    assert model.has_trained_weights and model.config.trained
    assert model.weights_status.startswith("trained: ") and "20 steps" in model.weights_status
    for name, value in trainer.model.state_dict().items():
        assert torch.equal(model.state_dict()[name], value.cpu()), name
    pipe = HumanSplatPipeline(reconstructor=model, **tiny_sv3d_components())
    assert pipe.weights_report()["reconstructor"].startswith("trained: ")
    fresh = LatentReconstructionTransformer.tiny()
    assert not fresh.has_trained_weights


def test_resume_continues_exactly(trained, dataset):
    trainer, _, _, result = trained
    resumed = Trainer(_config(steps=20), dataset=dataset)
    resumed.load_state(result.out_dir)
    assert resumed.step == 20 and len(resumed.history) == 20
    a, b = trainer.train_step(), resumed.train_step()  # the same next sample, weights and optimiser state
    assert a.loss == pytest.approx(b.loss, rel=1e-5) and a.lr == pytest.approx(b.lr)


def test_gradient_checkpointing_gives_the_same_gradients(dataset):
    grads = []
    for flag in (False, True):
        trainer = Trainer(_config(gradient_checkpointing=flag), dataset=dataset)
        assert trainer.model.gradient_checkpointing is flag
        loss, _, _ = trainer.compute_loss([0])
        loss.backward()
        grads.append(torch.cat([p.grad.flatten() for p in trainer.model.parameters() if p.grad is not None]))
    torch.testing.assert_close(grads[0], grads[1], atol=1e-6, rtol=1e-4)


def test_mixed_precision_is_noted_and_ignored_on_cpu(dataset):
    trainer = Trainer(_config(mixed_precision="bf16"), dataset=dataset, device="cpu")
    assert trainer.amp_dtype is None
    assert any("autocast runs on CUDA only" in n for n in trainer.notes)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_bf16_step_on_cuda(dataset):
    trainer = Trainer(_config(mixed_precision="bf16", steps=2), dataset=dataset, device="cuda")
    assert trainer.amp_dtype == torch.bfloat16
    result = trainer.train()
    assert all(math.isfinite(h.loss) for h in result.history)


def test_cli(tmp_path, capsys):
    from humansplat.train.__main__ import main

    out = tmp_path / "cli"
    assert main(["--config", "tiny", "--steps", "2", "--samples", "1", "--out", str(out), "--log-every", "1"]) == 0
    text = capsys.readouterr().out
    assert "step      2/2" in text and f"HUMANSPLAT_WEIGHTS={out}" in text
    assert json.loads((out / "reconstructor" / "config.json").read_text())["trained"] is True
    assert main(["--steps", "1", "--image-size", "36", "--out", str(tmp_path / "bad")]) == 2
    assert "must be a multiple of 8" in capsys.readouterr().err
