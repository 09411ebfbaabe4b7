"""The talkinghead tab of ``regen serve``: a photo + speech -> a talking video, with Y' (the face coefficients).

As ``python -m regen_talkinghead.animate``: a real photo (larger than 64x64) goes through extract
(68 landmarks + the 3D face fit), generate (speech -> expression and head-pose coefficients, Y') and
regenerate (the photo warped along them); no photo, or a small synthetic face picture, is animated
by the run's neural renderer and beside it by the direct baseline. A picture with no face, a face
turned away, or a file that is not speech raise the same typed errors as the command line.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from regen_core.serve import StepTimer, guard, output_path, require

from .animate import PhotoAnimator, animate, is_photo, load_condition


def coefficients_png(y_prime: np.ndarray, fps: int, title: str) -> str:
    """Y' (T, D) as curves over time -> PNG path: the coefficients that move (expression, pose), each centred on its
    mean; the constant ones (the face's identity) are counted in the title, not drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    a = np.asarray(y_prime, np.float32)
    moving = np.flatnonzero(a.std(axis=0) > 1e-6) if len(a) > 1 else np.arange(a.shape[1])
    t = np.arange(len(a)) / fps
    fig, ax = plt.subplots(figsize=(8, 2.6))
    ax.plot(t, a[:, moving] - a[:, moving].mean(axis=0), linewidth=0.8)
    ax.set_xlabel("seconds")
    ax.set_ylabel("minus its mean")
    ax.set_title(f"{title}: {a.shape[0]} frames x {a.shape[1]} coefficients ({len(moving)} moving, drawn; "
                 f"{a.shape[1] - len(moving)} constant)", fontsize=9)
    fig.tight_layout()
    path = output_path("talkinghead-y-prime", ".png")
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return str(path)


class Tab:
    """The tab's state: the run's models and, built on the first real photo, the photo pipeline."""

    def __init__(self, pairing: Any, models: Mapping[str, Any]):
        self.pairing, self.models = pairing, dict(models)
        self._animator: PhotoAnimator | None = None

    def animator(self, timer: StepTimer) -> PhotoAnimator:
        if self._animator is None:
            with timer("load the landmark and face models (first photo only)"):
                self._animator = PhotoAnimator(self.pairing, self.models, verbose=False)
        return self._animator

    def respond(self, photo: str | None, speech: str | None, seed: int = 0) -> dict[str, Any]:
        """One request: ``{"video", "direct" (MP4 paths; direct None where the run cannot draw it), "y_prime" (PNG),
        "timing"}``."""
        from regen_speech.audio import load_audio

        from .video import write_mp4

        require(speech, "no speech given: upload a WAV or record one")
        cfg = self.pairing.config
        timer = StepTimer()
        seed = int(seed or 0)
        direct_path, note = None, ""
        if is_photo(photo):
            from .photo import load_photo

            with timer("read"):
                picture = load_photo(photo)
                audio = load_audio(speech, cfg.sample_rate).audio
            animator = self.animator(timer)
            with timer("extract (photo -> landmarks -> 3D face fit)"):
                face = animator.prepare(picture)
            frames, y_prime, seconds = animator.run(face, audio, seed=seed)
            timer.seconds["generate (speech -> Y' coefficients)"] = seconds["generate"]
            timer.seconds["regenerate (Y' -> warped photo)"] = seconds["regenerate"]
            if getattr(self.models.get("direct"), "real_face", False):
                with timer("direct (speech + face crop -> frames)"):
                    direct_frames = animator.run_direct(face, self.models["direct"], audio)
                direct_path = write_mp4(output_path("talkinghead-direct", ".mp4"), direct_frames, cfg.fps, audio=audio,
                                        sample_rate=cfg.sample_rate)[0]
            else:
                note = ("no direct video: this run's direct baseline draws only the synthetic faces it was trained on "
                        "(a real-face direct model is trained with pairing.direct_real=true)")
        else:
            with timer("read"):
                x, _ = load_condition(self.pairing, speech, photo or None, identity_seed=seed, verbose=False)
            audio = x["audio"]
            steps: dict[str, float] = {}
            frames, y_prime = animate(self.pairing, self.models, x, seed=seed, steps=steps)
            timer.seconds["generate (speech + face -> Y' coefficients)"] = steps["generate"]
            timer.seconds["regenerate (Y' -> frames)"] = steps["regenerate"]
            if "direct" in self.models:
                steps = {}
                direct_frames, _ = animate(self.pairing, self.models, x, side="direct", seed=seed, steps=steps)
                timer.seconds["direct (speech + face -> frames)"] = steps["direct"]
                direct_path = write_mp4(output_path("talkinghead-direct", ".mp4"), direct_frames, cfg.fps, audio=audio,
                                        sample_rate=cfg.sample_rate)[0]
            if not photo:
                note = f"no photo given: a synthetic face (identity seed {seed})"
        with timer("write the video"):
            video = write_mp4(output_path("talkinghead", ".mp4"), frames, cfg.fps, audio=audio,
                              sample_rate=cfg.sample_rate)[0]
        extra = f"{len(frames)} frames at {cfg.fps} fps ({len(audio) / cfg.sample_rate:.2f} s of speech)"
        return {"video": str(video), "direct": str(direct_path) if direct_path else None,
                "y_prime": coefficients_png(y_prime, cfg.fps, "Y'"),
                "timing": timer.markdown(extra + (f"; {note}" if note else ""))}


def build_tab(pairing: Any, models: Mapping[str, Any]) -> None:
    """The tab's controls (inside an open ``gradio.Tab``)."""
    import gradio as gr

    tab = Tab(pairing, models)
    with gr.Row():
        photo = gr.Image(label="portrait photo (empty: a synthetic face)", type="filepath", image_mode=None,
                         format="png", height=360, elem_id="talkinghead-photo")
        speech = gr.Audio(sources=["upload", "microphone"], type="filepath", label="speech (WAV, FLAC; or record)",
                          elem_id="talkinghead-audio")
    seed = gr.Number(0, precision=0, label="seed", elem_id="talkinghead-seed")
    run = gr.Button("Animate", variant="primary", elem_id="talkinghead-run")
    with gr.Row():
        video = gr.Video(label="regeneration: speech -> Y' -> video", interactive=False, height=360,
                         elem_id="talkinghead-video")
        direct = gr.Video(label="direct baseline: speech -> video", interactive=False, height=360,
                          elem_id="talkinghead-direct")
    y_prime = gr.Image(label="Y': face coefficients over time", type="filepath", interactive=False,
                       elem_id="talkinghead-y-prime")
    timing = gr.Markdown(elem_id="talkinghead-timing")

    def handle(photo: str | None, speech: str | None, seed: float) -> tuple:
        r = tab.respond(photo, speech, int(seed or 0))
        return r["video"], r["direct"], r["y_prime"], r["timing"]

    run.click(guard(handle), [photo, speech, seed], [video, direct, y_prime, timing])
