"""One episode's frames from Gymnasium's rgb_array renderer, and those frames as a looping GIF."""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .envs import ACTION_NAMES, check_env_id, ensure_headless_display

MIN_FRAME_MS = 20  # browsers play GIF frames shorter than 20 ms far slower, not faster
DEFAULT_WIDTH = 300  # half of CartPole's 600: an exact 2x box reduction, cheap and clean

class RenderError(RuntimeError):
    """An episode that cannot be rendered; the message says why."""


@dataclass
class Episode:
    env_id: str
    seed: int
    frames: list[np.ndarray]  # steps + 1 frames: the start state, then one per step
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


def play_episode(policy, env_id: str, seed: int = 0, epsilon: float = 0.0, max_steps: int | None = None,
                 render: bool = True) -> Episode:
    """Play one episode from ``reset(seed=seed)`` and keep every rendered frame (none if not ``render``).

    Greedy unless ``epsilon`` > 0 (exploration draws from a generator seeded with ``seed``), so
    a greedy episode here is exactly episode 0 of ``evaluate(..., seed=seed)``.
    """
    check_env_id(env_id)
    if not 0 <= epsilon <= 1:
        raise ValueError(f"epsilon must be in [0, 1], got {epsilon}")
    ensure_headless_display()
    start = time.perf_counter()
    try:
        env = gym.make(env_id, render_mode="rgb_array" if render else None)
    except gym.error.DependencyNotInstalled as exc:
        raise RenderError(f"{env_id} cannot render: {exc} (install gymnasium[classic-control])") from None
    if render and "rgb_array" not in env.metadata.get("render_modes", []):
        env.close()
        raise RenderError(f"{env_id} cannot render rgb_array frames")
    rng = np.random.default_rng(seed)
    n_actions = int(env.action_space.n)
    obs, _ = env.reset(seed=seed)
    frames, states, actions, rewards, qs = [], [obs], [], [], []
    has_q = hasattr(policy, "q_values")
    terminated = truncated = False
    try:
        if render:
            frames.append(_frame(env))
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
            if render:
                frames.append(_frame(env))
            states.append(obs)
            actions.append(action)
            rewards.append(float(reward))
    finally:
        env.close()
    return Episode(env_id=env_id, seed=seed, frames=frames, states=np.asarray(states),
                   actions=np.asarray(actions, dtype=np.int64), rewards=np.asarray(rewards),
                   q_values=np.asarray(qs) if has_q else None, fps=int(env.metadata.get("render_fps", 30)),
                   seconds=time.perf_counter() - start, terminated=bool(terminated))


def _frame(env: gym.Env) -> np.ndarray:
    frame = env.render()
    if not isinstance(frame, np.ndarray) or frame.ndim != 3:
        raise RenderError(f"{env.spec.id if env.spec else env} returned no rgb_array frame")
    return frame


def frame_duration_ms(fps: int, speed: float = 1.0, stride: int = 1) -> int:
    """How long each GIF frame shows so the episode plays at ``speed`` x real time (never < 20 ms)."""
    if speed <= 0:
        raise ValueError(f"speed must be positive, got {speed}")
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    return max(MIN_FRAME_MS, round(1000 * stride / (fps * speed)))


def episode_gif(episode: Episode, speed: float = 1.0, stride: int | None = None, width: int | None = DEFAULT_WIDTH,
                overlay: bool = True) -> bytes:
    """The episode as GIF bytes that loop forever.

    ``speed`` < 1 is slow motion. With no ``stride``, the smallest stride that keeps real speed
    within the browsers' 20 ms floor is used (1 for CartPole at 50 fps).
    """
    if stride is None:
        stride = max(1, int(np.ceil(MIN_FRAME_MS * episode.fps * speed / 1000 - 1e-9)))
    labels = None
    if overlay:
        names = ACTION_NAMES.get(episode.env_id)
        labels = ["step 0  start"] + [
            f"step {t + 1}  {names[a] if names else a}" for t, a in enumerate(episode.actions.tolist())]
    return frames_to_gif(episode.frames, fps=episode.fps, speed=speed, stride=stride, width=width, labels=labels)


def frames_to_gif(frames: list[np.ndarray], fps: int, speed: float = 1.0, stride: int = 1,
                  width: int | None = DEFAULT_WIDTH, labels: list[str] | None = None) -> bytes:
    """Encode frames (every ``stride``-th, the last always kept) as a forever-looping GIF.

    All frames share one palette, built once from a sample of them: quantising each frame on its
    own is what makes naive GIF writing take seconds. The file is written by Pillow, the GIF
    backend imageio itself uses; imageio's wrapper re-quantises every frame and is 50x slower.
    """
    if not frames:
        raise ValueError("no frames to encode")
    if width is not None and not 16 <= width <= 2000:
        raise ValueError(f"width must be in 16..2000 pixels, got {width}")
    duration = frame_duration_ms(fps, speed, stride)
    keep = list(range(0, len(frames), stride))
    if keep[-1] != len(frames) - 1:
        keep.append(len(frames) - 1)  # always show how the episode ended
    height0, width0 = frames[0].shape[:2]
    size = (width, max(1, round(height0 * width / width0))) if width else (width0, height0)
    factor = max(1, width0 // size[0])
    font = _font(max(10, size[1] // 16))
    images = []
    for i in keep:
        image = Image.fromarray(frames[i])
        if factor > 1:
            image = image.reduce(factor)  # a box filter by an integer factor: fast
        if image.size != size:
            image = image.resize(size, Image.BOX)
        if labels is not None:
            ImageDraw.Draw(image).text((6, 4), labels[i], fill=(20, 20, 20), font=font)
        images.append(image)
    sample = [images[i] for i in np.linspace(0, len(images) - 1, min(len(images), 8)).astype(int)]
    montage = Image.fromarray(np.concatenate([np.asarray(im) for im in sample], axis=0))
    palette = montage.quantize(colors=255, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    indexed = [im.quantize(palette=palette, dither=Image.Dither.NONE) for im in images]
    buffer = io.BytesIO()
    indexed[0].save(buffer, format="GIF", save_all=True, append_images=indexed[1:], duration=duration,
                    loop=0, optimize=False, disposal=1)
    return buffer.getvalue()


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one size
        return ImageFont.load_default()


def render_state(env_id: str, observation: np.ndarray) -> np.ndarray:
    """The rgb_array frame of one observed state (for stepping through an episode frame by frame)."""
    check_env_id(env_id)
    ensure_headless_display()
    env = gym.make(env_id, render_mode="rgb_array")
    try:
        env.reset(seed=0)
        obs = np.asarray(observation, dtype=np.float64)
        if env_id == "Acrobot-v1":  # observed cos/sin of the angles; the renderer wants the angles
            obs = np.array([np.arctan2(obs[1], obs[0]), np.arctan2(obs[3], obs[2]), obs[4], obs[5]])
        env.unwrapped.state = obs
        return _frame(env)
    finally:
        env.close()
