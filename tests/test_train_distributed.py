"""Two processes on the CPU (accelerate launch, gloo): identical weights on both ranks, and the same
weights as one process training on the same global batches."""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
import torch

from humansplat.train.data import FolderDataset, SyntheticPeople, save_sample
from humansplat.train.trainer import TrainConfig, Trainer

STEPS = 3
SCRIPT = textwrap.dedent(
    """
    import sys, torch
    from humansplat.train.data import FolderDataset
    from humansplat.train.trainer import TrainConfig, Trainer

    data, out = sys.argv[1], sys.argv[2]
    config = TrainConfig.preset("tiny", steps=int(sys.argv[3]), eval_samples=0, ema_decay=0.9)
    trainer = Trainer(config, dataset=FolderDataset(data), device="cpu")
    seen = [trainer.batch_indices(s, 0) for s in range(config.steps)]
    trainer.train()
    torch.save(
        {"model": trainer.model.state_dict(), "ema": trainer.ema.shadow, "seen": seen,
         "world": trainer.accelerator.num_processes, "losses": [h.loss for h in trainer.history]},
        f"{out}/rank{trainer.accelerator.process_index}.pt",
    )
    """
)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("people")
    people = SyntheticPeople(num_samples=4, image_size=32, extra_views=1, seed=0)
    for i in range(len(people)):
        save_sample(people[i], root / f"subject_{i}")
    return root


@pytest.mark.skipif(shutil.which("accelerate") is None, reason="needs the accelerate command")
def test_two_cpu_processes_end_with_identical_weights(data, tmp_path):
    script = tmp_path / "train2.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path.cwd())}
    cmd = [
        "accelerate", "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29517",
        str(script), str(data), str(tmp_path), str(STEPS),
    ]  # fmt: skip
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1)]
    assert ranks[0]["world"] == ranks[1]["world"] == 2
    for name, value in ranks[0]["model"].items():
        assert torch.equal(ranks[1]["model"][name], value), name
    for name, value in ranks[0]["ema"].items():
        assert torch.equal(ranks[1]["ema"][name], value), name
    assert ranks[0]["losses"] == ranks[1]["losses"]  # the logged loss is the mean over ranks
    # the ranks share the sample stream without overlap: step s gives rank r sample 2 s + r of it
    for s in range(STEPS):
        assert ranks[0]["seen"][s] != ranks[1]["seen"][s]

    # one process with twice the batch takes the same global batches: the same weights (DDP
    # averages the ranks' gradients of their mean losses = the gradient of the global mean)
    one = Trainer(TrainConfig.preset("tiny", steps=STEPS, eval_samples=0, ema_decay=0.9, batch_size=2),
                  dataset=FolderDataset(data), device="cpu")  # fmt: skip
    assert [one.batch_indices(s) for s in range(STEPS)] == [
        ranks[0]["seen"][s] + ranks[1]["seen"][s] for s in range(STEPS)
    ]
    one.train()
    for name, value in one.model.state_dict().items():
        # float sums in another order; Adam turns the tiny differences of near-zero gradients into
        # differences of up to ~1e-4 (seen), against updates of up to 3 x lr = 1.5e-2
        torch.testing.assert_close(ranks[0]["model"][name], value, rtol=0, atol=1e-3, msg=name)
    assert [h.loss for h in one.history] == pytest.approx(ranks[0]["losses"], rel=1e-5)  # seen: equal to 1e-6
