"""SV3DUNet: per-frame camera conditioning, config round trip, strict diffusers-format loading."""

from __future__ import annotations

import json
import math

import pytest
import torch
from _fixtures_n1 import one_thread  # noqa: F401 - fixture

from humansplat.multiview.tiny import TINY_UNET_CONFIG
from humansplat.multiview.unet import CheckpointMismatchError, SV3DUNet, stack_added_time_ids

pytestmark = pytest.mark.usefixtures("one_thread")


def _unet(seed: int = 0, **overrides) -> SV3DUNet:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return SV3DUNet(**{**TINY_UNET_CONFIG, **overrides}).eval()


def _inputs(batch: int = 1, frames: int = 3, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    sample = torch.randn(batch, frames, 8, 8, 8, generator=g)
    ehs = torch.randn(batch, 1, TINY_UNET_CONFIG["cross_attention_dim"], generator=g)
    ids = torch.stack(
        [
            torch.full((batch, frames), 1e-5),
            torch.full((batch, frames), math.pi / 2),
            torch.linspace(0, 2 * math.pi, frames + 1)[:-1].expand(batch, frames),
        ],
        dim=-1,
    )
    return sample, torch.tensor(0.7), ehs, ids


def _run(unet: SV3DUNet, sample, t, ehs, ids, **kw) -> torch.Tensor:
    with torch.no_grad():
        return unet(sample, t, ehs, ids, **kw).sample


def _sinusoid(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Independent reference: cos first, no frequency shift, max period 10000."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    args = x.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def test_projection_width_must_match_the_three_embeddings():
    with pytest.raises(ValueError, match=r"8 \+ 2 \* 16 = 40"):
        SV3DUNet(**{**TINY_UNET_CONFIG, "projection_class_embeddings_input_dim": 41})


def test_defaults_are_sv3d_widths():
    with torch.device("meta"):
        unet = SV3DUNet()
    assert unet.add_time_proj.num_channels == 256 and unet.add_angle_proj.num_channels == 512
    assert unet.add_embedding.linear_1.in_features == 1280 == unet.config.projection_class_embeddings_input_dim
    assert unet.add_angle_proj.flip_sin_to_cos and unet.add_angle_proj.downscale_freq_shift == 0


def test_camera_embedding_matches_reference_formula():
    unet = _unet()
    ids = torch.rand(2, 3, 3) * torch.tensor([1.0, math.pi, 2 * math.pi])
    flat = ids.flatten(0, 1)
    ref_in = torch.cat([_sinusoid(flat[:, 0], 8), _sinusoid(flat[:, 1], 16), _sinusoid(flat[:, 2], 16)], dim=-1)
    with torch.no_grad():
        expected = unet.add_embedding(ref_in)
        got = unet.camera_embedding(ids, torch.float32)
    assert got.shape == (6, 4 * TINY_UNET_CONFIG["block_out_channels"][0])
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_list_and_tensor_time_ids_agree():
    unet = _unet()
    sample, t, ehs, ids = _inputs()
    as_list = [ids[..., 0], ids[..., 1], ids[..., 2]]
    torch.testing.assert_close(_run(unet, sample, t, ehs, as_list), _run(unet, sample, t, ehs, ids))
    with pytest.raises(ValueError, match="3 tensors"):
        stack_added_time_ids(as_list[:2])
    with pytest.raises(ValueError, match=r"B=1, F=3"):
        _run(unet, sample, t, ehs, ids[:, :2])


def test_one_frames_azimuth_changes_only_that_frame_without_temporal_mixing():
    unet = _unet()
    sample, t, ehs, ids = _inputs(frames=3)
    moved = ids.clone()
    moved[0, 1, 2] += 1.0  # frame 1's azimuth
    spatial_only = torch.ones(1, 3)
    base = _run(unet, sample, t, ehs, ids, image_only_indicator=spatial_only)
    other = _run(unet, sample, t, ehs, moved, image_only_indicator=spatial_only)
    assert (other[0, 1] - base[0, 1]).abs().max() > 1e-4
    torch.testing.assert_close(other[0, [0, 2]], base[0, [0, 2]], rtol=0, atol=1e-6)

    # with the temporal layers active (default), the change also reaches the other frames
    base_t = _run(unet, sample, t, ehs, ids)
    other_t = _run(unet, sample, t, ehs, moved)
    assert (other_t[0, 1] - base_t[0, 1]).abs().max() > 1e-4
    assert (other_t[0, [0, 2]] - base_t[0, [0, 2]]).abs().max() > 1e-7


def test_polar_and_noise_aug_reach_the_output():
    unet = _unet()
    sample, t, ehs, ids = _inputs()
    base = _run(unet, sample, t, ehs, ids)
    for column in (0, 1):
        moved = ids.clone()
        moved[..., column] += 0.5
        assert (_run(unet, sample, t, ehs, moved) - base).abs().max() > 1e-4


def test_save_load_round_trip(tmp_path):
    unet = _unet(angle_embed_dim=16)
    unet.save_pretrained(tmp_path / "unet")
    config = json.loads((tmp_path / "unet" / "config.json").read_text())
    assert config["_class_name"] == "SV3DUNet" and config["angle_embed_dim"] == 16
    loaded = SV3DUNet.from_pretrained(tmp_path / "unet")

    def plain(cfg) -> dict:
        skip = {"_name_or_path", "_use_default_values"}
        return json.loads(json.dumps({k: v for k, v in dict(cfg).items() if k not in skip}))

    assert plain(loaded.config) == plain(unet.config)
    inputs = _inputs(batch=2)
    torch.testing.assert_close(_run(loaded, *inputs), _run(unet, *inputs), rtol=0, atol=1e-6)


def test_fp16_variant_file_naming_loads(tmp_path):
    unet = _unet()
    half = _unet().half()
    half.save_pretrained(tmp_path / "unet", variant="fp16")
    assert (tmp_path / "unet" / "diffusion_pytorch_model.fp16.safetensors").is_file()
    assert not (tmp_path / "unet" / "diffusion_pytorch_model.safetensors").exists()
    loaded = SV3DUNet.from_pretrained(tmp_path / "unet", variant="fp16", torch_dtype=torch.float32)
    assert loaded.dtype == torch.float32
    rounded = _unet().half().float()
    inputs = _inputs()
    torch.testing.assert_close(_run(loaded, *inputs), _run(rounded, *inputs), rtol=0, atol=1e-6)
    assert (_run(loaded, *inputs) - _run(unet, *inputs)).abs().max() > 0  # it really is the fp16 copy


def test_loads_a_stock_diffusers_svd_unet_checkpoint(tmp_path):
    """The camera projection has no weights: a stock UNetSpatioTemporalConditionModel folder
    (the public checkpoint's key layout and class name) loads strictly."""
    from diffusers import UNetSpatioTemporalConditionModel

    cfg = {k: v for k, v in TINY_UNET_CONFIG.items()}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        stock = UNetSpatioTemporalConditionModel(**cfg)
    stock.save_pretrained(tmp_path / "unet", variant="fp16")
    assert json.loads((tmp_path / "unet" / "config.json").read_text())["_class_name"] == (
        "UNetSpatioTemporalConditionModel"
    )
    loaded = SV3DUNet.from_pretrained(tmp_path / "unet", variant="fp16")
    for name, tensor in stock.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], tensor, rtol=0, atol=0)


def test_strict_loading_names_missing_and_unexpected_keys(tmp_path):
    from safetensors.torch import load_file, save_file

    _unet().save_pretrained(tmp_path / "unet")
    path = tmp_path / "unet" / "diffusion_pytorch_model.safetensors"
    state = load_file(path)
    state.pop("conv_in.weight")
    state["mlmf.input_conv.0.weight"] = torch.zeros(1)
    save_file(state, path)
    with pytest.raises(CheckpointMismatchError, match=r"missing keys: conv_in\.weight.*unexpected keys: mlmf"):
        SV3DUNet.from_pretrained(tmp_path / "unet")
    _, info = SV3DUNet.from_pretrained(tmp_path / "unet", strict=False, output_loading_info=True)
    assert info["missing_keys"] == ["conv_in.weight"]


def test_full_size_parameter_counts_on_meta_device():
    from humansplat.multiview.configs import full_size_parameter_counts

    counts = full_size_parameter_counts()
    # SVD-XT UNet ~1.52 B, SD 1.5 VAE ~83.7 M, OpenCLIP ViT-H/14 vision tower + projection ~632 M
    assert 1.50e9 < counts["unet"] < 1.55e9
    assert 83e6 < counts["vae"] < 84.5e6
    assert 630e6 < counts["image_encoder"] < 634e6
