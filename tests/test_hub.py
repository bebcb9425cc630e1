"""humansplat.hub: the weights config, local folders, and clear errors when the Hub is out of reach.

Nothing here reaches the network: fake repo ids with HF_HUB_OFFLINE=1 (set by conftest) fail fast,
and the online failure modes are simulated by replacing ``snapshot_download``.
"""

from __future__ import annotations

import dataclasses
import types

import pytest

from humansplat import hub
from humansplat.errors import WeightsUnavailableError
from humansplat.hub import DEFAULT_HUB, HubConfig, HubFiles

FAKE = HubFiles("humansplat-tests/no-such-repo-7f3a", subfolder="unet", variant="fp16")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in (hub.ENV_WEIGHTS, hub.ENV_RECONSTRUCTOR_REPO, "HF_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_default_config_names_the_public_weights():
    assert DEFAULT_HUB.unet == HubFiles("paulpanwang/GenHuman3D", subfolder="unet", variant="fp16")
    assert DEFAULT_HUB.vae.subfolder == "vae" and "stable-diffusion-v1-5" in DEFAULT_HUB.vae.repo_id
    assert DEFAULT_HUB.image_encoder.repo_id == "stabilityai/stable-video-diffusion-img2vid-xt"
    assert DEFAULT_HUB.image_encoder.gated and DEFAULT_HUB.scheduler.subfolder == "scheduler"
    assert DEFAULT_HUB.reconstructor is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT_HUB.unet = FAKE  # type: ignore[misc]
    with pytest.raises(ValueError, match="'unet2'"):
        DEFAULT_HUB.component("unet2")


def test_download_patterns_pick_one_variant():
    assert DEFAULT_HUB.unet.allow_patterns() == ["unet/*.json", "unet/*.txt", "unet/*.fp16.safetensors"]
    plain = HubFiles("a/b", subfolder="vae")
    assert plain.allow_patterns()[-1] == "vae/*.safetensors" and "vae/*.fp16.*" in plain.ignore_patterns()
    assert HubFiles("a/b", subfolder="scheduler", weights=False).allow_patterns() == [
        "scheduler/*.json",
        "scheduler/*.txt",
    ]
    cmd = hub.download_command("unet")
    assert cmd.startswith("hf download paulpanwang/GenHuman3D") and '--include "unet/*.fp16.safetensors"' in cmd


def test_offline_fake_repo_says_what_to_do(tmp_path):
    config = DEFAULT_HUB.with_component("unet", FAKE)
    with pytest.raises(WeightsUnavailableError) as info:
        hub.fetch("unet", config, cache_dir=tmp_path)
    message = str(info.value)
    assert FAKE.repo_id in message and "not in the local Hugging Face cache" in message
    assert "HF_HUB_OFFLINE" in message and f"hf download {FAKE.repo_id}" in message
    assert "HUMANSPLAT_WEIGHTS" in message


def test_local_files_only_is_honoured(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(hub, "hub_offline", lambda: False)
    calls = []

    def fake_snapshot(repo_id, **kwargs):
        calls.append(kwargs)
        from huggingface_hub.errors import LocalEntryNotFoundError

        raise LocalEntryNotFoundError("Cannot find an appropriate cached snapshot folder")

    monkeypatch.setattr("huggingface_hub.snapshot_download", fake_snapshot)
    with pytest.raises(WeightsUnavailableError, match="local_files_only=True"):
        hub.fetch("unet", DEFAULT_HUB.with_component("unet", FAKE), local_files_only=True, cache_dir=tmp_path)
    assert calls[0]["local_files_only"] is True
    assert calls[0]["allow_patterns"] == FAKE.allow_patterns()


def _raise(exc: BaseException):
    def fake(*args, **kwargs):
        raise exc

    return fake


def test_gated_repo_asks_for_the_licence_and_a_token(monkeypatch):
    from huggingface_hub.errors import GatedRepoError

    monkeypatch.setattr(hub, "hub_offline", lambda: False)
    response = types.SimpleNamespace(headers={}, request=None, status_code=401)
    monkeypatch.setattr("huggingface_hub.snapshot_download", _raise(GatedRepoError("401 gated", response=response)))
    with pytest.raises(WeightsUnavailableError) as info:
        hub.fetch("image_encoder")
    message = str(info.value)
    assert "gated" in message and "HF_TOKEN is not set" in message
    assert "https://huggingface.co/stabilityai/stable-video-diffusion-img2vid-xt" in message
    assert "Accept its licence" in message


def test_network_failure_says_the_hub_is_unreachable(monkeypatch):
    from huggingface_hub.errors import LocalEntryNotFoundError

    monkeypatch.setattr(hub, "hub_offline", lambda: False)
    error = LocalEntryNotFoundError("Got: ConnectError: [Errno -2] Name or service not known")
    monkeypatch.setattr("huggingface_hub.snapshot_download", _raise(error))
    with pytest.raises(
        WeightsUnavailableError, match=r"(?s)Cannot reach the Hugging Face Hub.*ConnectError.*hf download"
    ):
        hub.fetch("unet")


def test_missing_repo_mentions_the_config(monkeypatch):
    from huggingface_hub.errors import RepositoryNotFoundError

    monkeypatch.setattr(hub, "hub_offline", lambda: False)
    response = types.SimpleNamespace(headers={}, request=None, status_code=404)
    monkeypatch.setattr("huggingface_hub.snapshot_download", _raise(RepositoryNotFoundError("404", response=response)))
    with pytest.raises(WeightsUnavailableError, match="does not exist or is private.*HubConfig"):
        hub.fetch("unet")


def test_weights_folder_is_used_without_the_hub(tmp_path, monkeypatch):
    (tmp_path / "unet").mkdir()
    (tmp_path / "unet" / "config.json").write_text("{}")
    monkeypatch.setenv(hub.ENV_WEIGHTS, str(tmp_path))
    monkeypatch.setattr("huggingface_hub.snapshot_download", _raise(AssertionError("must not download")))
    assert hub.fetch("unet") == tmp_path / "unet"
    assert hub.fetch_file("unet", "config.json") == tmp_path / "unet" / "config.json"
    assert hub.is_available("unet")[0]
    with pytest.raises(WeightsUnavailableError, match=r"(?s)has no vae/ folder.*found: \['unet'\].*hf download"):
        hub.fetch("vae")
    with pytest.raises(WeightsUnavailableError, match="missing.bin does not exist"):
        hub.fetch_file("unet", "missing.bin")


def test_weights_folder_must_exist(tmp_path, monkeypatch):
    monkeypatch.setenv(hub.ENV_WEIGHTS, str(tmp_path / "nope"))
    with pytest.raises(WeightsUnavailableError, match="is not a folder"):
        hub.fetch("unet")


def test_fetch_file_offline(tmp_path):
    with pytest.raises(WeightsUnavailableError, match="(?s)not in the local Hugging Face cache.*hf download"):
        hub.fetch_file("unet", "config.json", DEFAULT_HUB.with_component("unet", FAKE), cache_dir=tmp_path)


def test_is_available_never_downloads(monkeypatch):
    seen = []

    def fake_snapshot(repo_id, **kwargs):
        seen.append(kwargs["local_files_only"])
        from huggingface_hub.errors import LocalEntryNotFoundError

        raise LocalEntryNotFoundError("not cached")

    monkeypatch.setattr(hub, "hub_offline", lambda: False)
    monkeypatch.setattr("huggingface_hub.snapshot_download", fake_snapshot)
    ok, message = hub.is_available("unet")
    assert not ok and "paulpanwang/GenHuman3D" in message and seen == [True]


def test_cached_snapshot_without_the_variant_is_reported(tmp_path, monkeypatch):
    snapshot = tmp_path / "snap"
    (snapshot / "unet").mkdir(parents=True)
    (snapshot / "unet" / "config.json").write_text("{}")
    (snapshot / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"")
    monkeypatch.setattr("huggingface_hub.snapshot_download", lambda *a, **k: str(snapshot))
    with pytest.raises(WeightsUnavailableError, match="no fp16 weight file"):
        hub.fetch("unet")
    (snapshot / "unet" / "diffusion_pytorch_model.fp16.safetensors").write_bytes(b"")
    assert hub.fetch("unet") == snapshot / "unet"


def test_reconstructor_has_no_default_and_can_be_configured(monkeypatch):
    with pytest.raises(WeightsUnavailableError, match="(?s)none were published.*HUMANSPLAT_RECONSTRUCTOR_REPO"):
        hub.fetch("reconstructor")
    monkeypatch.setenv(hub.ENV_RECONSTRUCTOR_REPO, "someone/humansplat-lrm:transformer")
    config = HubConfig.from_env()
    assert config.reconstructor == HubFiles("someone/humansplat-lrm", subfolder="transformer")
    monkeypatch.setenv(hub.ENV_RECONSTRUCTOR_REPO, "not-a-repo")
    with pytest.raises(ValueError, match="'not-a-repo'"):
        HubConfig.from_env()


def test_revisions_float_unless_pinned_by_environment(monkeypatch):
    assert all(getattr(hub.DEFAULT_HUB, n) is None or getattr(hub.DEFAULT_HUB, n).revision is None
               for n in hub.COMPONENTS)  # no pinned commit: the repos' main branch
    monkeypatch.setenv("HUMANSPLAT_REVISION_UNET", "0123abcd")
    config = HubConfig.from_env()
    assert config.unet.revision == "0123abcd" and config.vae.revision is None
    assert "--revision 0123abcd" in hub.download_command("unet", config)
