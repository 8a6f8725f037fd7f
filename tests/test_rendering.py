import io

import gymnasium as gym
import numpy as np
import pytest
from PIL import Image

from rl_core.config import AgentConfig
from rl_core.learning.agent import QAgent, RandomAgent
from rl_core.learning.evaluation import evaluate
from rl_core.present.rendering import (
    RenderError,
    clear_render_envs,
    episode_gif,
    frame_duration_ms,
    frames_to_gif,
    play_episode,
    record_gif,
    side_by_side_gif,
)


class Balancer:
    """A hand-made linear controller that balances CartPole: long episodes without training."""

    def greedy_actions(self, states):
        s = np.asarray(states)
        return (s[:, 2] + 0.3 * s[:, 3] + 0.01 * s[:, 0] + 0.1 * s[:, 1] > 0).astype(np.int64)


def decode(gif: bytes):
    image = Image.open(io.BytesIO(gif))
    durations = []
    for i in range(image.n_frames):
        image.seek(i)
        durations.append(image.info["duration"])
    return image, durations


def test_episode_frames_states_and_actions_line_up():
    episode = play_episode(Balancer(), "CartPole-v1", seed=3, max_steps=60)
    assert episode.steps == 60 and len(episode.frames) == 61 and episode.states.shape == (61, 4)
    assert episode.frames[0].shape == (400, 600, 3) and episode.fps == 50


def test_a_greedy_episode_is_episode_zero_of_the_evaluation():
    agent = QAgent(AgentConfig(nn_hidden_layers=[8], seed=1))
    episode = play_episode(agent, "CartPole-v1", seed=42)
    assert episode.total_reward == evaluate(agent, n_episodes=1, seed=42).rewards[0]
    assert episode.q_values.shape == (episode.steps, 2)


def test_gif_decodes_loops_forever_and_plays_at_real_speed():
    episode = play_episode(Balancer(), "CartPole-v1", seed=0, max_steps=40)
    image, durations = decode(episode_gif(episode))
    assert image.format == "GIF" and image.info["loop"] == 0
    assert image.n_frames == 41
    assert set(durations) == {20}  # 50 fps: the env's real speed, at the browsers' floor
    assert image.size == (300, 200)


@pytest.mark.parametrize("stride,expected_frames", [(1, 41), (2, 21), (3, 15), (7, 7)])
def test_stride_keeps_every_nth_frame_and_the_last(stride, expected_frames):
    episode = play_episode(Balancer(), "CartPole-v1", seed=0, max_steps=40)
    image, durations = decode(episode_gif(episode, stride=stride))
    assert image.n_frames == expected_frames
    assert durations[0] == max(20, 20 * stride)


def test_slow_motion_and_speed_up():
    assert frame_duration_ms(50, speed=0.25) == 80
    assert frame_duration_ms(50, speed=4, stride=4) == 20
    assert frame_duration_ms(50, speed=4, stride=1) == 20  # never under the 20 ms floor
    episode = play_episode(Balancer(), "CartPole-v1", seed=0, max_steps=20)
    _, durations = decode(episode_gif(episode, speed=0.5))
    assert set(durations) == {40}
    image, _ = decode(episode_gif(episode, speed=2.0))  # auto stride 2 keeps real 2x speed
    assert image.n_frames == 11


def test_same_seed_same_gif():
    one = episode_gif(play_episode(Balancer(), "CartPole-v1", seed=5, max_steps=30))
    two = episode_gif(play_episode(Balancer(), "CartPole-v1", seed=5, max_steps=30))
    assert one == two
    other = episode_gif(play_episode(Balancer(), "CartPole-v1", seed=6, max_steps=30))
    assert other != one


def test_overlay_draws_on_the_frame():
    episode = play_episode(Balancer(), "CartPole-v1", seed=0, max_steps=5)
    with_text, _ = decode(episode_gif(episode, overlay=True))
    without, _ = decode(episode_gif(episode, overlay=False))
    a = np.asarray(with_text.convert("RGB"))[:20, :120]
    b = np.asarray(without.convert("RGB"))[:20, :120]
    assert (a != b).any()


@pytest.mark.parametrize("env_id", ["MountainCar-v0", "Acrobot-v1"])
def test_other_envs_render(env_id):
    episode = play_episode(RandomAgent(env_id), env_id, seed=0, max_steps=10)
    image, _ = decode(episode_gif(episode, width=120))
    assert image.n_frames == 11 and image.size[0] == 120


def test_an_env_that_cannot_render_gives_a_clear_error(monkeypatch):
    clear_render_envs()  # a pooled env would not go through the patched gym.make
    real_make = gym.make

    def make_without_renderer(env_id, **kwargs):
        env = real_make(env_id, **kwargs)
        env.metadata = {**env.metadata, "render_modes": []}
        return env

    monkeypatch.setattr(gym, "make", make_without_renderer)
    with pytest.raises(RenderError, match="CartPole-v1 cannot render rgb_array frames"):
        play_episode(Balancer(), "CartPole-v1")


def test_bad_gif_arguments():
    with pytest.raises(ValueError, match="no frames"):
        frames_to_gif([], fps=50)
    with pytest.raises(ValueError, match=r"speed must be in \[0.05, 10\], got 0"):
        frame_duration_ms(50, speed=0)
    with pytest.raises(ValueError, match="unknown|env_id"):
        play_episode(Balancer(), "Pong-v5")


@pytest.mark.parametrize(
    "settings,needle",
    [
        ({"speed": float("inf")}, "speed must be in [0.05, 10], got inf"),
        ({"speed": 1e-30}, "speed must be in [0.05, 10], got 1e-30"),
        ({"speed": float("nan")}, "speed must be in"),
        ({"stride": 1000}, "stride must be in [1, 100], got 1000"),
        ({"width": 100_000}, "width must be in [16, 2000], got 100000"),
    ],
)
def test_record_gif_refuses_settings_outside_the_render_bounds(settings, needle):
    with pytest.raises(ValueError) as info:  # once an OverflowError from deep inside the encoder
        record_gif(Balancer(), "CartPole-v1", seed=0, max_steps=5, **settings)
    assert needle in str(info.value)


def test_record_gif_streams_frames_and_keeps_none():
    seen = []
    gif, episode = record_gif(Balancer(), "CartPole-v1", seed=0, max_steps=40)
    assert episode.frames == [] and episode.steps == 40  # frames went to the encoder, none were kept
    image, durations = decode(gif)
    assert image.n_frames == 41 and set(durations) == {20} and image.size == (300, 200)
    # the streamed GIF is the same file as one made from kept frames
    assert gif == episode_gif(play_episode(Balancer(), "CartPole-v1", seed=0, max_steps=40))
    play_episode(Balancer(), "CartPole-v1", seed=0, max_steps=3, on_frame=lambda f, t, a: seen.append((t, a)))
    assert [t for t, _ in seen] == [0, 1, 2, 3] and seen[0][1] is None


def gif_color_tables(gif: bytes) -> tuple[bool, int]:
    """(has a global colour table, how many frames carry a local one), read from the GIF's blocks."""
    has_global = bool(gif[10] & 0x80)
    pos = 13 + (3 * 2 ** ((gif[10] & 7) + 1) if has_global else 0)
    local = 0

    def skip_sub_blocks(pos: int) -> int:
        while gif[pos]:
            pos += gif[pos] + 1
        return pos + 1

    while gif[pos] != 0x3B:
        if gif[pos] == 0x21:  # extension: label, then sub-blocks
            pos = skip_sub_blocks(pos + 2)
        else:  # 0x2C image descriptor
            packed = gif[pos + 9]
            pos += 10
            if packed & 0x80:
                local += 1
                pos += 3 * 2 ** ((packed & 7) + 1)
            pos = skip_sub_blocks(pos + 1)  # LZW minimum code size, then the data
    return has_global, local


def test_one_palette_for_the_whole_gif():
    gif, _ = record_gif(Balancer(), "CartPole-v1", seed=0, max_steps=30)
    assert gif_color_tables(gif) == (True, 0)  # one global colour table, no frame has its own


def test_side_by_side_gif_starts_together_and_holds_the_shorter_episode():
    short = lambda sink: play_episode(Balancer(), "CartPole-v1", seed=0, max_steps=10, on_frame=sink)  # noqa: E731
    long = lambda sink: play_episode(Balancer(), "CartPole-v1", seed=0, max_steps=25, on_frame=sink)  # noqa: E731
    gif, episodes = side_by_side_gif([("a", short), ("b", long)], fps=50, width=200)
    image, _ = decode(gif)
    assert [e.steps for e in episodes] == [10, 25]
    assert image.n_frames == 26  # the longer episode's frames; the shorter one holds its last
    assert image.size[0] == 2 * 200 + 6 and image.size[1] > 133  # each frame under a header strip


def test_side_by_side_captions_fit_their_panel_and_an_episode_that_ended_says_so():
    from PIL import Image

    from rl_core.present.rendering import _ended_panel, _font, fit_text

    font = _font(10)
    name = "deep-fast-custom-cartpole-s12-1950"
    shown = fit_text(name, font, 100)
    assert shown.endswith("…") and font.getlength(shown) <= 100 and name.startswith(shown[:-1])
    assert fit_text("short", font, 100) == "short"
    last = Image.new("RGB", (200, 160), (40, 40, 40))  # a dark frame under a 30-pixel header
    ended = _ended_panel(last, 41, header=30, font=font)
    pixels = np.asarray(ended).astype(int)
    assert (pixels[:30] == 40).all()  # the header is left as it was
    assert pixels[30:].mean() > 100  # the frame dimmed towards light grey
    red = (pixels[30:, :, 0] > 120) & (pixels[30:, :, 1] < 90)
    assert red.any()  # "ended at step 41" written on it


def test_saved_replay_is_used_only_for_the_weights_it_was_made_with(tmp_path):
    import shutil

    from rl_core.artifacts.folders import PRETRAINED_DIR
    from rl_core.artifacts.storage import load_agent
    from rl_core.present.rendering import save_replay, saved_replay

    folder = tmp_path / "agent"
    shutil.copytree(
        PRETRAINED_DIR / "cartpole-linear-q", folder, ignore=shutil.ignore_patterns("replay.gif", "replay.json")
    )
    assert saved_replay(folder) is None
    agent = load_agent(folder).agent
    save_replay(folder, agent, "CartPole-v1", seed=0)
    gif, steps, reward = saved_replay(folder)
    assert gif == (folder / "replay.gif").read_bytes() and steps == int(reward)
    assert saved_replay(folder, seed=1) is None and saved_replay(folder, speed=0.5) is None
    (folder / "model.pt").write_bytes((folder / "model.pt").read_bytes() + b"\0")  # other weights
    assert saved_replay(folder) is None
