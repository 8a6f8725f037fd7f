"""One episode's frames from Gymnasium's rgb_array renderer, and those frames as a looping GIF.

Frames stream to the encoder: each rendered frame is shrunk, labelled and mapped to the episode's
palette as soon as it is drawn, so a 500-step episode never holds its 500 full-size RGB frames
(720 KB each for CartPole) in memory, only the small indexed frames the GIF is made of.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import gymnasium as gym
import imageio.v3 as iio
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from rl_core.config import RENDER_BOUNDS
from rl_core.envinfo import ENVS, env_info
from rl_core.learning.envs import check_env_id, ensure_headless_display

MIN_FRAME_MS = 20  # browsers play GIF frames shorter than 20 ms far slower, not faster
DEFAULT_WIDTH = 300  # half of CartPole's 600: an exact 2x box reduction, cheap and clean
PALETTE_COLORS = 64  # the classic-control scenes use a handful of colours and their antialiased edges
REPLAY_GIF, REPLAY_JSON = "replay.gif", "replay.json"  # an agent folder's ready-made replay (seed 0)


class RenderError(RuntimeError):
    """An episode that cannot be rendered; the message says why."""


@dataclass
class Episode:
    env_id: str
    seed: int
    frames: list[np.ndarray]  # steps + 1 frames (start state, then one per step); [] when streamed or not rendered
    states: np.ndarray  # (steps + 1, obs_dim)
    actions: np.ndarray  # (steps,)
    rewards: np.ndarray  # (steps,)
    q_values: np.ndarray | None  # (steps, n_actions) for agents that have them
    fps: int
    seconds: float = 0.0
    terminated: bool = False
    meta: dict = field(default_factory=dict)

    @property
    def steps(self) -> int:
        return len(self.actions)

    @property
    def total_reward(self) -> float:
        return float(self.rewards.sum())


# Making a rendering env starts pygame and builds its surfaces (the slow part of a first GIF):
# each process keeps its rendering envs and lends them out, one caller at a time.
_ENV_POOL: dict[str, list[gym.Env]] = {}
_POOL_LOCK = threading.Lock()


def _borrow_render_env(env_id: str) -> gym.Env:
    with _POOL_LOCK:
        pool = _ENV_POOL.get(env_id)
        if pool:
            return pool.pop()
    try:
        env = gym.make(env_id, render_mode="rgb_array")
    except gym.error.DependencyNotInstalled as exc:
        raise RenderError(f"{env_id} cannot render: {exc} (install gymnasium[classic-control])") from None
    if "rgb_array" not in env.metadata.get("render_modes", []):
        env.close()
        raise RenderError(f"{env_id} cannot render rgb_array frames")
    return env


def _return_render_env(env_id: str, env: gym.Env) -> None:
    with _POOL_LOCK:
        _ENV_POOL.setdefault(env_id, []).append(env)


def clear_render_envs() -> None:
    """Close the pooled rendering envs (tests that swap gym.make call this first)."""
    with _POOL_LOCK:
        envs = [env for pool in _ENV_POOL.values() for env in pool]
        _ENV_POOL.clear()
    for env in envs:
        env.close()


FrameSink = Callable[[np.ndarray, int, "int | None"], None]  # (frame, step, action taken into it or None)


def play_episode(
    policy,
    env_id: str,
    seed: int = 0,
    epsilon: float = 0.0,
    max_steps: int | None = None,
    render: bool = True,
    on_frame: FrameSink | None = None,
) -> Episode:
    """Play one episode from ``reset(seed=seed)``.

    Greedy unless ``epsilon`` > 0 (exploration draws from a generator seeded with ``seed``), so
    a greedy episode here is exactly episode 0 of ``evaluate(..., seed=seed)``. With ``render``
    every frame is kept in ``Episode.frames``, unless ``on_frame`` is given: then each frame goes
    to it as soon as it is drawn and none is kept.
    """
    check_env_id(env_id)
    if not 0 <= epsilon <= 1:
        raise ValueError(f"epsilon must be in [0, 1], got {epsilon}")
    start = time.perf_counter()
    if render:
        ensure_headless_display()
        env = _borrow_render_env(env_id)
    else:
        env = gym.make(env_id)
    rng = np.random.default_rng(seed)
    n_actions = int(cast(gym.spaces.Discrete, env.action_space).n)  # every supported env's actions are discrete
    frames: list[np.ndarray] = []
    sink = on_frame if on_frame is not None else (lambda frame, step, action: frames.append(frame))
    obs, _ = env.reset(seed=seed)
    states, rewards, qs = [obs], [], []
    actions: list[int] = []
    has_q = hasattr(policy, "q_values")
    terminated = truncated = False
    ok = False
    try:
        if render:
            sink(_frame(env), 0, None)
        while not (terminated or truncated):
            if max_steps is not None and len(actions) >= max_steps:
                break
            if has_q:
                q = np.asarray(policy.q_values(obs[None, :])[0])
                qs.append(q)
                action = int(np.argmax(q))
            else:
                action = int(policy.greedy_actions(obs[None, :])[0])
            if epsilon > 0 and rng.random() < epsilon:
                action = int(rng.integers(n_actions))
            obs, reward, terminated, truncated, _ = env.step(action)
            states.append(obs)
            actions.append(action)
            rewards.append(float(reward))
            if render:
                sink(_frame(env), len(actions), action)
        ok = True
    finally:
        if render and ok:
            _return_render_env(env_id, env)
        else:
            env.close()
    return Episode(
        env_id=env_id,
        seed=seed,
        frames=frames,
        states=np.asarray(states),
        actions=np.asarray(actions, dtype=np.int64),
        rewards=np.asarray(rewards),
        q_values=np.asarray(qs) if has_q else None,
        fps=int(env.metadata.get("render_fps", 30)),
        seconds=time.perf_counter() - start,
        terminated=bool(terminated),
    )


def _frame(env: gym.Env) -> np.ndarray:
    frame = env.render()
    if not isinstance(frame, np.ndarray) or frame.ndim != 3:
        raise RenderError(f"{env.spec.id if env.spec else env} returned no rgb_array frame")
    return frame


def check_render_settings(speed: float | None = None, stride: int | None = None, width: int | None = None) -> None:
    """ValueError naming the first setting outside RENDER_BOUNDS (None: not given)."""
    for name, value in (("speed", speed), ("stride", stride), ("width", width)):
        if value is not None and not RENDER_BOUNDS[name].contains(value):
            raise ValueError(f"{name} must be in {RENDER_BOUNDS[name].describe()}, got {value}")


def frame_duration_ms(fps: int, speed: float = 1.0, stride: int = 1) -> int:
    """How long each GIF frame shows so the episode plays at ``speed`` x real time (never < 20 ms)."""
    check_render_settings(speed=speed, stride=stride)
    return max(MIN_FRAME_MS, round(1000 * stride / (fps * speed)))


def auto_stride(fps: int, speed: float) -> int:
    """The smallest stride that keeps ``speed`` within the browsers' 20 ms floor (1 for CartPole at 50 fps)."""
    check_render_settings(speed=speed)
    return max(1, int(np.ceil(MIN_FRAME_MS * fps * speed / 1000 - 1e-9)))


def _step_label(env_id: str, step: int, action: int | None) -> str:
    if action is None:
        return "step 0  start"
    names = ENVS[env_id].action_names if env_id in ENVS else None
    return f"step {step}  {names[action] if names else action}"


class GifWriter:
    """A looping GIF built one frame at a time.

    Each frame is shrunk, labelled and mapped to one palette as it arrives; the palette is built
    from the first frame (the classic-control scenes keep their colours for the whole episode),
    and every frame is written with it: one global colour table, no per-frame quantising, which
    is what makes naive GIF writing slow. Every ``stride``-th frame is kept, and the last one
    always (it shows how the episode ended). The file is written through imageio's v3 API (its
    Pillow plugin), with the palette as the file's one global colour table.
    """

    def __init__(self, fps: int, speed: float = 1.0, stride: int = 1, width: int | None = DEFAULT_WIDTH):
        check_render_settings(width=width)
        self.duration = frame_duration_ms(fps, speed, stride)
        self.stride, self.width = stride, width
        self._indexed: list[np.ndarray] = []  # shrunk frames as palette indices: 1 byte a pixel
        self._palette: Image.Image | None = None
        self._size: tuple[int, int] | None = None
        self._factor = 1
        self._font: ImageFont.ImageFont | ImageFont.FreeTypeFont | None = None
        self._count = 0
        self._pending: tuple[np.ndarray, str | None] | None = None  # the latest skipped frame

    def add(self, frame: np.ndarray, label: str | None = None) -> None:
        keep = self._count % self.stride == 0
        self._count += 1
        if keep:
            self._encode(frame, label)
            self._pending = None
        else:
            self._pending = (frame, label)

    def _encode(self, frame: np.ndarray, label: str | None) -> None:
        if self._size is None:
            height0, width0 = frame.shape[:2]
            self._size = (self.width, max(1, round(height0 * self.width / width0))) if self.width else (width0, height0)
            self._factor = max(1, width0 // self._size[0])
            self._font = _font(max(10, self._size[1] // 16))
        image = Image.fromarray(frame)
        if self._factor > 1:
            image = image.reduce(self._factor)  # a box filter by an integer factor: fast
        if image.size != self._size:
            image = image.resize(self._size, Image.Resampling.BOX)
        if label is not None:
            ImageDraw.Draw(image).text((6, 4), label, fill=(20, 20, 20), font=self._font)
        if self._palette is None:
            self._palette = image.quantize(
                colors=PALETTE_COLORS, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
            )
        self._indexed.append(np.asarray(image.quantize(palette=self._palette, dither=Image.Dither.NONE)))

    def finish(self) -> bytes:
        """The GIF's bytes (call once, after the last frame)."""
        if self._pending is not None:
            self._encode(*self._pending)
            self._pending = None
        if not self._indexed:
            raise ValueError("no frames to encode")
        # Index frames go in as mode "L" with the palette as Pillow's option: it becomes the file's one
        # global colour table (without it each frame would repeat it as a local table). As "P" frames,
        # Pillow would search the palette colour by colour in every frame: 11 ms a frame instead of ~0.5.
        assert self._palette is not None  # made from the first frame
        palette = self._palette.getpalette()
        assert palette is not None  # a quantized image is in mode "P": it has one
        return iio.imwrite(
            "<bytes>",
            self._indexed,
            extension=".gif",
            plugin="pillow",
            mode="L",
            palette=bytes(palette),
            duration=self.duration,
            loop=0,
            optimize=False,
            disposal=1,
        )


def record_gif(
    policy,
    env_id: str,
    seed: int = 0,
    speed: float = 1.0,
    stride: int | None = None,
    width: int | None = DEFAULT_WIDTH,
    overlay: bool = True,
    epsilon: float = 0.0,
    max_steps: int | None = None,
) -> tuple[bytes, Episode]:
    """Play one episode and stream its frames into a GIF: (GIF bytes, the episode without frames)."""
    check_env_id(env_id)
    check_render_settings(speed, stride, width)  # before the episode is played
    fps = render_fps(env_id)
    writer = GifWriter(fps, speed, stride or auto_stride(fps, speed), width)
    episode = play_episode(
        policy,
        env_id,
        seed=seed,
        epsilon=epsilon,
        max_steps=max_steps,
        on_frame=lambda frame, step, action: writer.add(frame, _step_label(env_id, step, action) if overlay else None),
    )
    return writer.finish(), episode


@functools.cache
def render_fps(env_id: str) -> int:
    """The env's real-time frame rate (CartPole 50, MountainCar 30, Acrobot 15)."""
    env = gym.make(env_id)
    try:
        return int(env.metadata.get("render_fps", 30))
    finally:
        env.close()


def episode_gif(
    episode: Episode,
    speed: float = 1.0,
    stride: int | None = None,
    width: int | None = DEFAULT_WIDTH,
    overlay: bool = True,
) -> bytes:
    """An already played episode (with its frames) as GIF bytes that loop forever.

    ``speed`` < 1 is slow motion. With no ``stride``, the smallest stride that keeps real speed
    within the browsers' 20 ms floor is used (1 for CartPole at 50 fps).
    """
    labels = None
    if overlay:
        labels = [_step_label(episode.env_id, t, a) for t, a in enumerate([None] + episode.actions.tolist())]
    return frames_to_gif(
        episode.frames,
        fps=episode.fps,
        speed=speed,
        stride=stride or auto_stride(episode.fps, speed),
        width=width,
        labels=labels,
    )


def frames_to_gif(
    frames: Iterable[np.ndarray],
    fps: int,
    speed: float = 1.0,
    stride: int = 1,
    width: int | None = DEFAULT_WIDTH,
    labels: list[str] | None = None,
) -> bytes:
    """Encode frames (every ``stride``-th, the last always kept) as a forever-looping GIF."""
    writer = GifWriter(fps, speed, stride, width)
    for i, frame in enumerate(frames):
        writer.add(frame, labels[i] if labels is not None else None)
    return writer.finish()


def side_by_side_gif(
    episodes: list[tuple[str, Callable[[FrameSink], Episode]]], fps: int, width: int = 240, speed: float = 1.0
) -> tuple[bytes, list[Episode]]:
    """Several agents' episodes in ONE GIF, panels side by side, all starting together and the same
    size. Each panel has a header strip over the frame: its caption (shortened with an ellipsis to
    fit the panel, never cut by its edge) and the step. An episode that ends first holds its last
    frame, dimmed and marked "ended at step N", so an agent that fell early does not look frozen.
    ``episodes`` pairs a caption with a function that plays an episode, sending its frames to the
    sink it is given."""
    stride = auto_stride(fps, speed)
    panels: list[list[Image.Image]] = []
    played = []
    font = _font(max(10, width // 20))
    line = round(font.size * 1.3) if isinstance(font, ImageFont.FreeTypeFont) else 12
    header = 2 * line + 6
    for caption, play in episodes:
        shrunk: list[Image.Image] = []
        title = fit_text(caption, font, width - 12)

        def keep(frame: np.ndarray, step: int, action: int | None, shrunk=shrunk, title=title) -> None:
            image = Image.fromarray(frame)
            image = image.resize((width, max(1, round(frame.shape[0] * width / frame.shape[1]))), Image.Resampling.BOX)
            panel = Image.new("RGB", (width, header + image.size[1]), (255, 255, 255))
            panel.paste(image, (0, header))
            draw = ImageDraw.Draw(panel)
            draw.text((6, 3), title, fill=(20, 20, 20), font=font)
            draw.text((6, 3 + line), f"step {step}", fill=(90, 90, 90), font=font)
            shrunk.append(panel)

        played.append(play(keep))
        panels.append(shrunk)
    if not panels or not all(panels):
        raise ValueError("no frames to encode")
    n = max(len(p) for p in panels)
    height = max(p[0].size[1] for p in panels)
    ended = [_ended_panel(panel[-1], len(panel) - 1, header, font) for panel in panels]
    gap = 6
    writer = GifWriter(fps, speed, stride, width=None)
    for t in range(n):
        canvas = Image.new("RGB", (len(panels) * width + gap * (len(panels) - 1), height), (255, 255, 255))
        for i, panel in enumerate(panels):
            canvas.paste(panel[t] if t < len(panel) - 1 or len(panel) == n else ended[i], (i * (width + gap), 0))
        writer.add(np.asarray(canvas))
    return writer.finish(), played


def fit_text(text: str, font: ImageFont.ImageFont | ImageFont.FreeTypeFont, width: float) -> str:
    """``text`` as drawn in ``font``, shortened with an ellipsis until it fits ``width`` pixels."""
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "…") > width:
        text = text[:-1]
    return text + "…"


def _ended_panel(
    last: Image.Image, last_step: int, header: int, font: ImageFont.ImageFont | ImageFont.FreeTypeFont
) -> Image.Image:
    """A panel's last frame, dimmed under its header and marked with the step its episode ended at."""
    panel = last.copy()
    frame = panel.crop((0, header, panel.size[0], panel.size[1]))
    dimmed = Image.blend(frame, Image.new("RGB", frame.size, (235, 235, 235)), 0.55)
    panel.paste(dimmed, (0, header))
    ImageDraw.Draw(panel).text((6, header + 6), f"ended at step {last_step}", fill=(180, 30, 30), font=font)
    return panel


@functools.cache
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one size
        return ImageFont.load_default()


# --- an agent folder's ready-made replay --------------------------------------------------------


def save_replay(folder: str | Path, policy, env_id: str, seed: int = 0) -> Path:
    """Write ``replay.gif`` (seed ``seed``, real speed, default width) and ``replay.json`` into an
    agent folder, so a page can show the agent at once instead of rendering it first."""
    folder = Path(folder)
    gif, episode = record_gif(policy, env_id, seed=seed)
    (folder / REPLAY_GIF).write_bytes(gif)
    (folder / REPLAY_JSON).write_text(
        json.dumps(
            {
                "seed": seed,
                "speed": 1.0,
                "width": DEFAULT_WIDTH,
                "steps": episode.steps,
                "reward": episode.total_reward,
                "model_sha256": _sha256(folder / "model.pt"),
            }
        )
        + "\n"
    )
    return folder / REPLAY_GIF


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def saved_replay(
    folder: str | Path, seed: int = 0, speed: float = 1.0, width: int = DEFAULT_WIDTH
) -> tuple[bytes, int, float] | None:
    """(GIF bytes, steps, reward) of the folder's ready-made replay if it is that episode, played
    by the weights the folder holds now (replay.json records their hash); otherwise None."""
    folder = Path(folder)
    gif, info, model = folder / REPLAY_GIF, folder / REPLAY_JSON, folder / "model.pt"
    try:
        if not gif.is_file() or not info.is_file() or not model.is_file():
            return None
        meta = json.loads(info.read_text())
        if (meta.get("seed"), float(meta.get("speed", 0)), meta.get("width")) != (seed, float(speed), width):
            return None
        if meta.get("model_sha256") != _sha256(model):
            return None
        return gif.read_bytes(), int(meta["steps"]), float(meta["reward"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def render_state(env_id: str, observation: np.ndarray) -> np.ndarray:
    """The rgb_array frame of one observed state (for stepping through an episode frame by frame)."""
    check_env_id(env_id)
    ensure_headless_display()
    env = _borrow_render_env(env_id)
    try:
        env.reset(seed=0)
        obs = np.asarray(observation, dtype=np.float64)
        if env_info(env_id).observation_holds_cos_sin:  # the renderer wants the angles themselves
            obs = np.array([np.arctan2(obs[1], obs[0]), np.arctan2(obs[3], obs[2]), obs[4], obs[5]])
        unwrapped: Any = env.unwrapped  # the classic-control envs keep their physical state in .state
        unwrapped.state = obs
        return _frame(env)
    finally:
        _return_render_env(env_id, env)
