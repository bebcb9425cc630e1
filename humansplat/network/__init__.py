"""The network of full mode: the latent reconstruction transformer and the pipeline that runs it.

* :mod:`.transformer`: :class:`LatentReconstructionTransformer` (presets ``tiny``/``small``/``base``).
* :mod:`.attention`: projection-aware window attention and its dense masked reference.
* :mod:`.tokenizer`: body vertices -> human prior tokens.
* :mod:`.gaussian_head`: tokens -> pixel-aligned Gaussians.
* :mod:`.provenance`: what a reconstructor was trained on (VAE, resolution, views, body model, data,
  held-out scores, smoke); written by :mod:`humansplat.train`, checked by the pipeline at load.
* :mod:`.pipeline_humansplat`: :class:`HumanSplatPipeline` (SV3D latents -> transformer -> Gaussians;
  refuses untrained weights), diffusers-style.

Modules load on first use (``from humansplat.network.transformer import ...``).
"""
