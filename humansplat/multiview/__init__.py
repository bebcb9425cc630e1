"""Novel-view synthesizer: SV3D (human fine-tune) turning one photo into orbit views in latent space.

Light at import: names load on first use (diffusers/transformers are heavy).

* :class:`SV3DUNet` (``.unet``): SVD's UNet with per-frame (noise aug, polar, azimuth) conditioning.
* :class:`SV3DPipeline`, :class:`MultiviewOutput` (``.pipeline_sv3d``): the sampler.
* :func:`load_sv3d_pipeline` (``.load``): the sampler with real weights (local folder or Hub).
* :func:`prepare_synthesizer_input`, :func:`orbit_view_cameras` (``.framing``): the re-framed input
  and the exact cameras of the generated views.
* :func:`fine_tune_azimuths` and the ``FINE_TUNE_*`` settings (``.fine_tune``): how the human
  fine-tune was trained (frames, size, azimuths, framing, guidance), read from the research code.
* :func:`tiny_sv3d_components` (``.tiny``), :func:`full_size_sv3d_components` (``.configs``):
  random components for tests and benchmarks.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "SV3DUNet": "unet",
    "CheckpointMismatchError": "unet",
    "SV3DPipeline": "pipeline_sv3d",
    "MultiviewOutput": "pipeline_sv3d",
    "SV3D_AZIMUTH_SIGN": "pipeline_sv3d",
    "ENCODER_NORMALIZATIONS": "pipeline_sv3d",
    "encoder_pixels": "pipeline_sv3d",
    "SynthesizerInput": "framing",
    "prepare_synthesizer_input": "framing",
    "orbit_view_cameras": "framing",
    "default_precision": "load",
    "fine_tune_azimuths": "fine_tune",
    "FINE_TUNE_FILL": "fine_tune",
    "FINE_TUNE_NUM_FRAMES": "fine_tune",
    "FINE_TUNE_SIZE": "fine_tune",
    "default_orbit_azimuths": "pipeline_sv3d",
    "frame_guidance_scales": "pipeline_sv3d",
    "sv3d_camera_ids": "pipeline_sv3d",
    "load_sv3d_pipeline": "load",
    "tiny_sv3d_components": "tiny",
    "full_size_sv3d_components": "configs",
    "full_size_parameter_counts": "configs",
    "make_scheduler": "configs",
    "make_feature_extractor": "configs",
}

__all__ = [
    "ENCODER_NORMALIZATIONS",
    "FINE_TUNE_FILL",
    "FINE_TUNE_NUM_FRAMES",
    "FINE_TUNE_SIZE",
    "SV3D_AZIMUTH_SIGN",
    "CheckpointMismatchError",
    "MultiviewOutput",
    "SV3DPipeline",
    "SV3DUNet",
    "SynthesizerInput",
    "default_orbit_azimuths",
    "default_precision",
    "encoder_pixels",
    "fine_tune_azimuths",
    "frame_guidance_scales",
    "full_size_parameter_counts",
    "full_size_sv3d_components",
    "load_sv3d_pipeline",
    "make_feature_extractor",
    "make_scheduler",
    "orbit_view_cameras",
    "prepare_synthesizer_input",
    "sv3d_camera_ids",
    "tiny_sv3d_components",
]
assert sorted(__all__) == sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'humansplat.multiview' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
