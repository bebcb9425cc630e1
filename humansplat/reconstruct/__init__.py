"""Reconstruction: Gaussians from the structure prior (prior mode) or from the latent reconstruction transformer (full mode)."""
