"""Where HumanSplat's network weights come from, and how they are fetched.

One frozen :class:`HubConfig` names every component (Hub repo id, subfolder, variant, revision);
:func:`fetch` returns a local folder for a component, downloading it through ``huggingface_hub``
when allowed, and raises :class:`~humansplat.errors.WeightsUnavailableError` whose message says
exactly what failed and what to do.

Where weights are looked for, in order
--------------------------------------
1. ``$HUMANSPLAT_WEIGHTS/<component>/`` (e.g. ``$HUMANSPLAT_WEIGHTS/unet/config.json``): a local
   folder, for machines without the Hub. When the variable is set, nothing is downloaded.
2. The Hugging Face cache (``HF_HOME``), then the Hub itself unless offline
   (``HF_HUB_OFFLINE=1`` or ``local_files_only=True``). A token comes from ``HF_TOKEN``
   (or ``hf auth login``); gated repos also need their licence accepted on the Hub.

Components (names used everywhere): ``unet`` (the human fine-tuned SV3D UNet), ``vae``
(Stable Diffusion 1.5's AutoencoderKL), ``image_encoder`` (SVD-XT's CLIP ViT-H/14 vision tower),
``feature_extractor`` and ``scheduler`` (SVD-XT's configs, small), ``reconstructor`` (the latent
reconstruction transformer: no public weights exist, so no default repo).

Revisions are not pinned: every default ``revision`` is None, which is the repo's ``main`` branch,
so a fresh download gets whatever the repo holds then (no commit hash of these repos could be checked
from the machines this was written on, and an invented one would fail). To pin a component, set
``HUMANSPLAT_REVISION_<COMPONENT>`` (e.g. ``HUMANSPLAT_REVISION_UNET=<commit hash>``), read by
:meth:`HubConfig.from_env`, or pass a :class:`HubConfig` whose :class:`HubFiles` carry ``revision``.

Nothing here runs at import time; ``huggingface_hub`` is imported inside the functions.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path

from humansplat.errors import WeightsUnavailableError

__all__ = [
    "COMPONENTS",
    "DEFAULT_HUB",
    "ENV_RECONSTRUCTOR_REPO",
    "ENV_REVISION_PREFIX",
    "ENV_WEIGHTS",
    "HubConfig",
    "HubFiles",
    "download_command",
    "fetch",
    "fetch_file",
    "hub_offline",
    "is_available",
    "weights_dir",
]

ENV_WEIGHTS = "HUMANSPLAT_WEIGHTS"
"""Environment variable: a local folder holding one subfolder per component (``unet/``, ``vae/``...)."""

ENV_RECONSTRUCTOR_REPO = "HUMANSPLAT_RECONSTRUCTOR_REPO"
"""Environment variable read by :meth:`HubConfig.from_env`: ``owner/name[:subfolder]`` of the
reconstruction model's weights, when someone publishes them."""

ENV_REVISION_PREFIX = "HUMANSPLAT_REVISION_"
"""``HUMANSPLAT_REVISION_<COMPONENT>`` (e.g. ``HUMANSPLAT_REVISION_UNET``): branch, tag or commit to pin
that component to (read by :meth:`HubConfig.from_env`; unset: the repo's ``main`` branch)."""

COMPONENTS = ("unet", "vae", "image_encoder", "feature_extractor", "scheduler", "reconstructor")
SYNTHESIZER_WEIGHTS = ("unet", "vae", "image_encoder")
"""The components with weight files that the SV3D synthesizer needs (views and full modes)."""


@dataclass(frozen=True)
class HubFiles:
    """One component's files on the Hugging Face Hub.

    Attributes:
        repo_id: ``owner/name`` of the model repo.
        subfolder: folder inside the repo holding ``config.json`` and the weights (None: repo root).
        variant: weight-file variant, e.g. ``"fp16"`` for ``diffusion_pytorch_model.fp16.safetensors``
            (None: the plain file).
        revision: branch, tag or commit; None (every default) is the repo's ``main`` branch, which moves.
            Pin a commit for reproducible installs (``HUMANSPLAT_REVISION_<COMPONENT>``, module docstring).
        gated: the repo asks users to accept a licence before downloading (needs ``HF_TOKEN``).
        weights: whether the component has weight files (False for config-only components).
    """

    repo_id: str
    subfolder: str | None = None
    variant: str | None = None
    revision: str | None = None
    gated: bool = False
    weights: bool = True

    @property
    def url(self) -> str:
        return f"https://huggingface.co/{self.repo_id}"

    def allow_patterns(self) -> list[str]:
        """Repo paths to download: the configs, and only this variant's weight files."""
        prefix = f"{self.subfolder.strip('/')}/" if self.subfolder else ""
        patterns = [f"{prefix}*.json", f"{prefix}*.txt"]
        if self.weights:
            suffix = f".{self.variant}.safetensors" if self.variant else ".safetensors"
            patterns.append(f"{prefix}*{suffix}")
        return patterns

    def ignore_patterns(self) -> list[str]:
        """Weight variants not asked for (so a plain download does not also pull ``*.fp16.*``)."""
        if not self.weights or self.variant:
            return []
        prefix = f"{self.subfolder.strip('/')}/" if self.subfolder else ""
        return [f"{prefix}*.fp16.*", f"{prefix}*.bf16.*", f"{prefix}*.fp32.*"]


_SVD_XT = "stabilityai/stable-video-diffusion-img2vid-xt"


@dataclass(frozen=True)
class HubConfig:
    """Every network component's Hub location (defaults: what the public research code loads, at the
    repos' ``main`` branch: no revision is pinned, see the module docstring).

    Attributes:
        unet: the human fine-tuned SV3D UNet (``paulpanwang/GenHuman3D``, ``unet/``, fp16, ~3 GB).
        vae: Stable Diffusion 1.5's AutoencoderKL (the research code's VAE; scaling 0.18215).
        image_encoder: SVD-XT's CLIP ViT-H/14 image encoder (gated repo: accept the licence).
        feature_extractor: SVD-XT's CLIP preprocessing config (the loader has a built-in copy).
        scheduler: SVD-XT's EulerDiscreteScheduler config (the loader has a built-in copy).
        reconstructor: the latent reconstruction transformer; None because no weights were ever
            published (set it, or ``HUMANSPLAT_RECONSTRUCTOR_REPO``, when some are).
    """

    unet: HubFiles = HubFiles("paulpanwang/GenHuman3D", subfolder="unet", variant="fp16")
    vae: HubFiles = HubFiles("stable-diffusion-v1-5/stable-diffusion-v1-5", subfolder="vae", variant="fp16")
    image_encoder: HubFiles = HubFiles(_SVD_XT, subfolder="image_encoder", variant="fp16", gated=True)
    feature_extractor: HubFiles = HubFiles(_SVD_XT, subfolder="feature_extractor", gated=True, weights=False)
    scheduler: HubFiles = HubFiles(_SVD_XT, subfolder="scheduler", gated=True, weights=False)
    reconstructor: HubFiles | None = None

    def component(self, name: str) -> HubFiles | None:
        """The :class:`HubFiles` of component ``name`` (one of :data:`COMPONENTS`)."""
        if name not in COMPONENTS:
            raise ValueError(f"unknown component {name!r}; expected one of {COMPONENTS}")
        return getattr(self, name)

    def with_component(self, name: str, files: HubFiles | None) -> HubConfig:
        """A copy with component ``name`` replaced (the config itself is frozen)."""
        self.component(name)  # validates the name
        return replace(self, **{name: files})

    @classmethod
    def from_env(cls, base: HubConfig | None = None) -> HubConfig:
        """``base`` (default: the defaults) with ``HUMANSPLAT_RECONSTRUCTOR_REPO`` and the
        ``HUMANSPLAT_REVISION_<COMPONENT>`` pins (e.g. ``HUMANSPLAT_REVISION_UNET``) applied."""
        config = base or cls()
        spec = os.environ.get(ENV_RECONSTRUCTOR_REPO, "").strip()
        if spec:
            repo, _, sub = spec.partition(":")
            if repo.count("/") != 1:
                raise ValueError(f"{ENV_RECONSTRUCTOR_REPO}={spec!r} is not 'owner/name' or 'owner/name:subfolder'")
            config = replace(config, reconstructor=HubFiles(repo, subfolder=sub or None))
        for name in COMPONENTS:
            revision = os.environ.get(f"{ENV_REVISION_PREFIX}{name.upper()}", "").strip()
            files = config.component(name)
            if revision and files is not None:
                config = config.with_component(name, replace(files, revision=revision))
        return config


DEFAULT_HUB = HubConfig()
assert {f.name for f in fields(HubConfig)} == set(COMPONENTS)


# ---------------------------------------------------------------------------- environment
def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def hub_offline() -> bool:
    """True when the Hub must not be contacted (``HF_HUB_OFFLINE`` now, or when huggingface_hub
    was imported)."""
    if _env_flag("HF_HUB_OFFLINE"):
        return True
    try:
        from huggingface_hub import constants
    except ImportError:  # pragma: no cover - huggingface_hub is a dependency
        return True
    return bool(constants.HF_HUB_OFFLINE)


def weights_dir() -> Path | None:
    """The folder named by ``HUMANSPLAT_WEIGHTS`` (None when unset). Raises if it does not exist."""
    value = os.environ.get(ENV_WEIGHTS, "").strip()
    if not value:
        return None
    root = Path(value).expanduser()
    if not root.is_dir():
        raise WeightsUnavailableError(
            f"{ENV_WEIGHTS}={value!r} is not a folder. Point it at a folder holding one subfolder per "
            f"component (unet/, vae/, image_encoder/, ...), or unset it to use the Hugging Face cache."
        )
    return root


def download_command(name: str, config: HubConfig = DEFAULT_HUB, local_dir: str = "humansplat-weights") -> str:
    """The shell command that fetches component ``name`` into ``local_dir/<subfolder>/`` on a
    connected machine (copy ``local_dir`` over and set ``HUMANSPLAT_WEIGHTS`` to it)."""
    files = _require(name, config)
    parts = ["hf download", files.repo_id]
    for pattern in files.allow_patterns():
        parts.append(f'--include "{pattern}"')
    if files.revision:
        parts.append(f"--revision {files.revision}")
    parts.append(f"--local-dir {local_dir}")
    return " ".join(parts)


def _require(name: str, config: HubConfig) -> HubFiles:
    files = config.component(name)
    if files is None:
        raise WeightsUnavailableError(
            f"No weights are configured for the {name!r} component: none were published for HumanSplat's "
            f"{name}. Put a trained checkpoint (config.json + *.safetensors) in ${ENV_WEIGHTS}/{name}/, "
            f"or name a Hub repo with {ENV_RECONSTRUCTOR_REPO}=owner/name[:subfolder]."
            if name == "reconstructor"
            else f"No Hub location is configured for the {name!r} component; set it in humansplat.hub.HubConfig."
        )
    return files


def _local_folder(name: str, files: HubFiles) -> Path | None:
    """``$HUMANSPLAT_WEIGHTS/<name>`` when the variable is set (raises if the folder lacks it)."""
    root = weights_dir()
    if root is None:
        return None
    candidates = [root / name]
    if files.subfolder and files.subfolder != name:
        candidates.append(root / files.subfolder)
    for folder in candidates:
        if folder.is_dir():
            return folder
    raise WeightsUnavailableError(
        f"{ENV_WEIGHTS}={str(root)!r} has no {name}/ folder for the {name!r} component "
        f"(found: {sorted(p.name for p in root.iterdir() if p.is_dir()) or 'nothing'}). "
        f"On a connected machine run:\n  {download_command(name, replace(DEFAULT_HUB, **{name: files}), str(root))}\n"
        f"and copy the folder here (it must contain {name}/config.json or the component's config file)."
    )


# ---------------------------------------------------------------------------- error messages
def _explain(exc: BaseException, name: str, files: HubFiles, offline: bool) -> str:
    """A message saying what failed while fetching ``files`` and what the user can do."""
    from huggingface_hub import errors as hf_errors

    where = f"{files.repo_id}" + (f" (folder {files.subfolder}/)" if files.subfolder else "")
    where += f" at revision {files.revision}" if files.revision else ""
    manual = (
        f"Or, on a connected machine, run:\n  {download_command(name, replace(DEFAULT_HUB, **{name: files}))}\n"
        f"copy humansplat-weights/ to this machine and set {ENV_WEIGHTS}=/path/to/humansplat-weights."
    )
    token_state = "HF_TOKEN is set" if os.environ.get("HF_TOKEN") else "HF_TOKEN is not set"
    if isinstance(exc, hf_errors.GatedRepoError):
        return (
            f"Cannot download the {name} weights: {files.repo_id} is a gated repo ({token_state}). "
            f"Accept its licence at {files.url} with your Hugging Face account, create a read token at "
            f"https://huggingface.co/settings/tokens and set HF_TOKEN=<token>. {manual}"
        )
    if isinstance(exc, hf_errors.RepositoryNotFoundError):
        return (
            f"Cannot download the {name} weights: the Hub says repo {files.repo_id} does not exist or is private "
            f"({token_state}). Check the repo id in humansplat.hub.HubConfig; for a private repo set HF_TOKEN. {manual}"
        )
    if isinstance(exc, hf_errors.RevisionNotFoundError):
        return f"Cannot download the {name} weights: revision {files.revision!r} of {files.repo_id} does not exist."
    if isinstance(exc, (hf_errors.LocalEntryNotFoundError, hf_errors.OfflineModeIsEnabled)) and offline:
        return (
            f"The {name} weights ({where}) are not in the local Hugging Face cache and downloads are off "
            f"(HF_HUB_OFFLINE=1 or local_files_only=True). Allow downloads (unset HF_HUB_OFFLINE) on a machine "
            f"with internet access. {manual}"
        )
    if isinstance(exc, (hf_errors.LocalEntryNotFoundError, ConnectionError, TimeoutError)):
        detail = str(exc).splitlines()[0][:200]
        return (
            f"Cannot reach the Hugging Face Hub to download the {name} weights ({where}); they are not cached "
            f"either ({type(exc).__name__}: {detail}). Check the network / proxy (HTTPS_PROXY) and retry. {manual}"
        )
    if isinstance(exc, hf_errors.EntryNotFoundError):
        return (
            f"{files.repo_id} has no files matching {files.allow_patterns()} (wrong subfolder or variant?): "
            f"{str(exc).splitlines()[0][:200]}"
        )
    return f"Downloading the {name} weights ({where}) failed: {type(exc).__name__}: {str(exc)[:300]}. {manual}"


def _resolve_offline(local_files_only: bool | None) -> bool:
    return bool(local_files_only) or hub_offline()


# ---------------------------------------------------------------------------- fetching
def fetch(
    name: str,
    config: HubConfig = DEFAULT_HUB,
    *,
    local_files_only: bool | None = None,
    token: str | None = None,
    cache_dir: str | Path | None = None,
) -> Path:
    """A local folder holding component ``name`` (its ``config.json`` and weights).

    Looks in ``$HUMANSPLAT_WEIGHTS/<name>/`` first; otherwise downloads (or finds in the cache) only
    the component's subfolder and variant with ``huggingface_hub.snapshot_download``.

    Args:
        name: one of :data:`COMPONENTS`.
        config: where the components live (default :data:`DEFAULT_HUB`).
        local_files_only: never contact the Hub (also implied by ``HF_HUB_OFFLINE=1``).
        token: a Hub token; default ``HF_TOKEN`` / the saved login.
        cache_dir: the Hub cache (default ``HF_HUB_CACHE``).

    Raises:
        WeightsUnavailableError: the message says what failed (offline, no network, gated repo,
            missing repo/revision/files) and how to get the weights.
    """
    root = weights_dir()
    if root is not None and (root / name).is_dir():
        return root / name  # a local folder wins, even for a component with no Hub location
    files = _require(name, config)
    local = _local_folder(name, files)
    if local is not None:
        return local
    offline = _resolve_offline(local_files_only)
    from huggingface_hub import snapshot_download

    try:
        snapshot = snapshot_download(
            files.repo_id,
            revision=files.revision,
            allow_patterns=files.allow_patterns(),
            ignore_patterns=files.ignore_patterns() or None,
            local_files_only=offline,
            token=token or None,
            cache_dir=cache_dir,
        )
    except Exception as exc:
        raise WeightsUnavailableError(_explain(exc, name, files, offline)) from exc
    folder = Path(snapshot) / files.subfolder if files.subfolder else Path(snapshot)
    if not folder.is_dir() or not any(folder.glob("*.json")):
        raise WeightsUnavailableError(
            f"{files.repo_id} has no {files.subfolder or '(root)'}/ folder with a config file "
            f"(looked in {folder}); check the subfolder in humansplat.hub.HubConfig."
        )
    if files.weights and not any(folder.glob(files.allow_patterns()[-1].rsplit("/", 1)[-1])):
        what = f"{files.variant} " if files.variant else ""
        raise WeightsUnavailableError(
            f"{folder} has no {what}weight file (*.safetensors) for the {name} component"
            + (" in the local cache; allow downloads (unset HF_HUB_OFFLINE) to fetch it." if offline else ".")
            + f" On a connected machine: {download_command(name, replace(DEFAULT_HUB, **{name: files}))}"
        )
    return folder


def fetch_file(
    name: str,
    filename: str,
    config: HubConfig = DEFAULT_HUB,
    *,
    local_files_only: bool | None = None,
    token: str | None = None,
    cache_dir: str | Path | None = None,
) -> Path:
    """One file of component ``name`` (``filename`` relative to its subfolder), via
    ``huggingface_hub.hf_hub_download``; ``$HUMANSPLAT_WEIGHTS/<name>/<filename>`` first.
    Raises :class:`WeightsUnavailableError` like :func:`fetch`."""
    files = _require(name, config)
    local = _local_folder(name, files)
    if local is not None:
        path = local / filename
        if not path.is_file():
            raise WeightsUnavailableError(f"{path} does not exist ({ENV_WEIGHTS} is set, so nothing is downloaded).")
        return path
    offline = _resolve_offline(local_files_only)
    from huggingface_hub import hf_hub_download

    try:
        path = hf_hub_download(
            files.repo_id,
            filename,
            subfolder=files.subfolder,
            revision=files.revision,
            local_files_only=offline,
            token=token or None,
            cache_dir=cache_dir,
        )
    except Exception as exc:
        raise WeightsUnavailableError(_explain(exc, name, files, offline)) from exc
    return Path(path)


def is_available(name: str, config: HubConfig = DEFAULT_HUB) -> tuple[bool, str]:
    """Whether component ``name`` can be loaded without downloading anything (local folder or
    cache), and a one-line reason. Never contacts the Hub."""
    try:
        folder = fetch(name, config, local_files_only=True)
    except WeightsUnavailableError as exc:
        return False, str(exc)
    return True, f"{name}: {folder}"
