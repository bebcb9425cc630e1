"""The app's Animate step and its /animate endpoint.

Covers: /animate (gradio_client against the app launched in-process) reconstructs the synthetic example
and returns a video of the requested frame count, a rigged .glb with one skin and every motion as a clip
(the requested one first), the bound .ply with its sidecar, and a summary; bad motions, frame counts and
the time limit are answered by clear messages; the page's Animate handler says "Reconstruct a photo
first" without a reconstruction and animates the session's last one after it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from _fixtures_app import PERSON_PNG, running_app

from humansplat.app import animation, handlers, sessions, settings
from humansplat.app.summary import animation_markdown

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

pytestmark = pytest.mark.timeout(600)

FRAMES, RESOLUTION = 8, 256


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """(url, sessions root) of the app, launched once for this module."""
    with running_app(tmp_path_factory.mktemp("gradio_tmp")) as (url, sessions):
        yield url, sessions


@pytest.fixture(scope="module")
def client(server, tmp_path_factory):
    c = Client(server[0], download_files=str(tmp_path_factory.mktemp("downloads")), verbose=False)
    yield c
    c.close()


def _frames(video: str) -> np.ndarray:
    import imageio.v3 as iio

    return np.stack(list(iio.imiter(video)))


def _check_glb(path: str, first: str) -> None:
    """One skin over the body model's bones; every built-in motion as a clip, ``first`` first."""
    import pygltflib

    from humansplat.animate import motion_names

    gltf = pygltflib.GLTF2().load(path)
    assert len(gltf.skins) == 1 and len(gltf.skins[0].joints) > 50
    names = [a.name for a in gltf.animations]
    assert names[0] == first and sorted(names) == sorted(motion_names()), names
    assert len(gltf.animations[0].channels) > 0


def test_animate_endpoint_returns_video_rigged_glb_and_bound_ply(client, tmp_path):
    video, glb, ply, sidecar, summary = client.predict(
        handle_file(str(PERSON_PNG)), "walk", FRAMES, RESOLUTION, api_name="/animate"
    )
    clip = _frames(video)
    assert clip.shape == (FRAMES, RESOLUTION, RESOLUTION, 3), clip.shape
    assert clip.std() > 5 and np.abs(clip[0].astype(int) - clip[FRAMES // 2]).max() > 30  # it moves
    assert Path(video).name == "animation_walk.mp4"
    _check_glb(glb, "walk")
    # the bound avatar: the .ply and its .rig.npz, side by side as the library writes them
    from humansplat.animate import load_bound_avatar

    for f in (ply, sidecar):
        shutil.copy(f, tmp_path / Path(f).name)
    avatar = load_bound_avatar(tmp_path / "avatar_bound.ply")
    assert len(avatar.gaussians) > 1000 and avatar.weights.shape[0] == len(avatar.gaussians)
    assert "**Animated: walk**" in summary and f"{FRAMES} frames" in summary, summary
    assert "mode **prior**" in summary or "mode **full**" in summary, summary


def test_bad_motion_and_frames_are_refused(client):
    with pytest.raises(AppError, match=r"dance.*walk"):
        client.predict(handle_file(str(PERSON_PNG)), "dance", FRAMES, RESOLUTION, api_name="/animate")
    with pytest.raises(AppError, match=r"1000.*8 to 96"):
        client.predict(handle_file(str(PERSON_PNG)), "walk", 1000, RESOLUTION, api_name="/animate")
    with pytest.raises(AppError, match=r"100\b.*256"):
        client.predict(handle_file(str(PERSON_PNG)), "walk", FRAMES, 100, api_name="/animate")
    with pytest.raises(AppError, match="No photo"):
        client.predict(None, "walk", FRAMES, RESOLUTION, api_name="/animate")


def test_time_limit_stops_the_animation_with_a_message(client, monkeypatch):
    monkeypatch.setattr(settings, "TIME_LIMIT_S", 0.001)
    with pytest.raises(AppError, match=r"animation took longer than 0 s and was stopped"):
        client.predict(handle_file(str(PERSON_PNG)), "walk", FRAMES, RESOLUTION, api_name="/animate")


def _quiet(*args, **kwargs) -> None:
    """A stand-in for gr.Progress."""


def test_animate_button_needs_then_uses_the_last_reconstruction(tmp_path, monkeypatch):
    """The page's handler in-process: a clear message without a reconstruction; after one, it animates
    that reconstruction into a new run folder of the session and leaves nothing held."""
    import gradio as gr

    folders = sessions.SessionFolders(cache=tmp_path / "gradio")
    monkeypatch.setattr(sessions, "SESSIONS", folders)
    request = gr.Request(session_hash="page")
    with pytest.raises(gr.Error, match="Reconstruct a photo first"):
        animation.animate_last("walk", RESOLUTION, request, progress=_quiet)
    with pytest.raises(gr.Error, match=r"Unknown motion 'dance'"):
        animation.animate_last("dance", RESOLUTION, request, progress=_quiet)

    *_, last = handlers.reconstruct_photo(str(PERSON_PNG), "prior", 8, 0, RESOLUTION, request, progress=_quiet)
    assert last[handlers.RECONSTRUCT_OUTPUTS.index("summary")]
    other = gr.Request(session_hash="another-page")  # another session has no reconstruction of its own
    with pytest.raises(gr.Error, match="Reconstruct a photo first"):
        animation.animate_last("walk", RESOLUTION, other, progress=_quiet)

    outputs = dict(zip(animation.ANIMATE_UI_OUTPUTS, animation.animate_last("wave", RESOLUTION, request, progress=_quiet)))
    assert outputs["model3d"] == outputs["glb"]
    clip = _frames(outputs["video"])
    assert clip.shape[1:] == (RESOLUTION, RESOLUTION, 3) and len(clip) == 60  # one 2.5 s cycle at 24 fps
    _check_glb(outputs["glb"], "wave")
    made = ("gaussians.ply", "avatar_bound.ply")
    runs = sorted(p.parent.name for p in folders.root.glob("page/*/*") if p.name in made)
    assert len(runs) == 2 and len(set(runs)) == 2, runs  # the reconstruction and the animation: two run folders
    assert not folders._held(), folders._held()  # every folder released: the disk cap may prune them


def test_reused_reconstruction_is_held_until_every_reader_finishes(tmp_path):
    """Two Animate requests may read the same reconstruction; the disk cap deletes it only after both."""
    import gradio as gr

    folders = sessions.SessionFolders(cache=tmp_path / "gradio", max_bytes=0)  # a cap that deletes every free run
    request = gr.Request(session_hash="page")
    needs = ("gaussians.ply", "body.json", "report.json")
    older, newer, partial = (folders.root / "page" / name for name in ("older", "newer", "partial"))
    for i, run in enumerate((older, newer)):
        run.mkdir(parents=True)
        for name in needs:
            (run / name).write_bytes(b"x" * 100)
        os.utime(run / needs[0], (1000 + i, 1000 + i))
        for name in needs[1:]:
            os.utime(run / name, (1000 + i, 1000 + i))
        os.utime(run, (1000 + i, 1000 + i))
    partial.mkdir()
    (partial / "body.json").write_bytes(b"{}")  # a body fit only: nothing to animate
    first, second = folders.reuse(request, needs), folders.reuse(request, needs)
    assert first == second == newer
    folders.finish(first)
    assert newer.is_dir() and not older.exists()  # pruned: the older run; held: the one still read
    folders.finish(second)
    assert not newer.exists() and not folders._held()
    assert folders.reuse(request, needs) is None


def test_animation_summary_lists_what_the_binding_had_to_guess():
    """The binding's notes (a hand the photo does not show as skin, an arm behind the back) reach the
    visible summary, one bullet each; without any, no bullet."""
    from types import SimpleNamespace

    result = SimpleNamespace(mode="prior", weights={}, gaussians=[0] * 5, timings={"animate_bind": 0.5})
    note = "The left hand is not seen as skin (a pocket or a glove?): its Gaussians follow the hip behind it."
    text = animation_markdown(result, "walk", 12, 256, 3.0, [note])
    assert f"- {note}" in text and "**Animated: walk**" in text and "bind 0.5s" in text
    assert "\n- " not in animation_markdown(result, "walk", 12, 256, 3.0, [])
