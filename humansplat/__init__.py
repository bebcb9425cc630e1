"""HumanSplat: single-image human Gaussian Splatting with structure priors.

Light at import: heavy modules (mediapipe, anny, diffusers, gradio) load on first use.
"""

__version__ = "0.1.0"
