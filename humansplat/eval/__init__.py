"""Novel-view evaluation: built-in textured subjects, the harness, metrics and reports.

``evaluate(subjects, mode="prior")`` photographs each subject, reconstructs it and scores renders of
the reconstruction against renders of the truth from 8 orbit azimuths (see :mod:`.harness`);
``builtin_subjects()`` is the project's own evaluation set (see :mod:`.subjects`); the CLI is
``python -m humansplat.eval`` (``humansplat-eval``).
"""

from .convert import mesh_to_gaussians, sample_surface
from .harness import (
    FOV_DEG,
    FRAMINGS,
    ORBIT_AZIMUTHS,
    PORTRAIT_AIM_BELOW_TOP_M,
    PORTRAIT_DISTANCE_M,
    InputView,
    align_depth,
    align_height,
    evaluate,
    lpips_scorer,
    make_input_view,
    perfect_reconstruction,
    predicted_height,
    up_extent,
)
from .metrics import ViewMetrics, align_to_box, alpha_box, score_view
from .report import GROUPS, EvalReport, GroupRow, RunImages, RunRecord, ViewScore, view_group, write_contact_sheet
from .subjects import BUILTIN_SUBJECTS, EvalSubject, builtin_subjects, scan_subjects

__all__ = [
    "BUILTIN_SUBJECTS",
    "FOV_DEG",
    "FRAMINGS",
    "GROUPS",
    "ORBIT_AZIMUTHS",
    "PORTRAIT_AIM_BELOW_TOP_M",
    "PORTRAIT_DISTANCE_M",
    "EvalReport",
    "EvalSubject",
    "GroupRow",
    "InputView",
    "RunImages",
    "RunRecord",
    "ViewMetrics",
    "ViewScore",
    "align_depth",
    "align_height",
    "align_to_box",
    "alpha_box",
    "builtin_subjects",
    "evaluate",
    "lpips_scorer",
    "make_input_view",
    "mesh_to_gaussians",
    "perfect_reconstruction",
    "predicted_height",
    "sample_surface",
    "scan_subjects",
    "score_view",
    "up_extent",
    "view_group",
    "write_contact_sheet",
]
