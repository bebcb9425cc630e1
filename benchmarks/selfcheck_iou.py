"""Where ``humansplat-selfcheck``'s IoU threshold comes from: how well the fitted body overlaps a view's
silhouette when the view is right, and when its camera is wrong.

For each bundled example photo: the body is fitted, the photo is re-framed as the synthesizer sees it
(the person at 95 % of the square, 512 px), and the re-framed person mask (what a perfect synthesizer
shows at azimuth 0) is compared with the fitted body rasterised from cameras turned by 0, one orbit
frame (20.57 deg), 90, 180 and -90 deg, and with the mask re-framed at 80 % (the framing views mode
used before). CPU only, no synthesizer weights.

    python benchmarks/selfcheck_iou.py
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    from humansplat.io.images import load_photo
    from humansplat.multiview.framing import orbit_view_cameras, prepare_synthesizer_input
    from humansplat.prior.fit import fit_body
    from humansplat.prior.person import detect_person
    from humansplat.selfcheck import EXAMPLES, silhouette_ious

    turns = (0.0, 720 / 35, 90.0, 180.0, -90.0)
    print("| photo | right view | one frame off (20.6 deg) | 90 deg off | 180 deg off | -90 deg off | mask framed at 80 % |")
    print("|---|---|---|---|---|---|---|")
    for name in EXAMPLES:
        fit = fit_body(detect_person(load_photo(REPO / "assets" / "examples" / name)))
        views = {}
        for fill in (0.95, 0.8):
            framed = prepare_synthesizer_input(fit.crop, 512, fill)
            white = (255 - 200 * (framed.mask[..., None] > 0.5)).astype("uint8").repeat(3, axis=-1)
            views[fill] = (white, framed.camera)
        image, camera = views[0.95]
        cams = orbit_view_cameras(fit, camera, list(turns))
        ious = silhouette_ious(fit, image[None].repeat(len(turns), axis=0), cams)
        old = silhouette_ious(fit, views[0.8][0][None], cams[:1])[0]
        print(f"| {name} | " + " | ".join(f"{v:.2f}" for v in ious) + f" | {old:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
