"""Time one gradient step of QAgent.learn, beside the autograd reference it replaced.

    python bench/gradient_step.py [--repeats 2000]

For each case (the deep-fast network: [64, 64], batch 128, Double DQN; the course's network:
[256, 256], batch 32, plain DQN, one step a call and 16 as deep-good trains) it prints the median
time of one gradient step of ``learn`` (sampling from a full replay memory included, as in
training) and of the reference step (rl_core/learning/reference.py: nn.Sequential calls, separate
forwards, autograd, clip_grad_norm_, zero_grad, torch.optim.Adam(fused=True), as ``QAgent.learn``
was before issue 14), on the same network and memory.
Both run on one torch thread, interleaved in blocks so that a busy neighbour slows both alike;
the process's CPU time per step is printed beside the wall-clock time, as a shared machine inflates
it far less.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from _common import git_commit, machine  # noqa: E402

from rl_core.config import AgentConfig  # noqa: E402
from rl_core.learning.agent import QAgent  # noqa: E402
from rl_core.learning.reference import ReferenceDQN  # noqa: E402

# (name, config changes, gradient steps per training call as the preset makes them)
CASES = [
    (
        "[64, 64] batch 128, Double DQN (deep-fast), 1 step a call",
        dict(nn_hidden_layers=[64, 64], batch_size=128, double_dqn=True, learning_rate=2.5e-3),
        1,
    ),
    (
        "[256, 256] batch 32, DQN (the course's size), 1 step a call",
        dict(nn_hidden_layers=[256, 256], batch_size=32, double_dqn=False, learning_rate=1.6e-4),
        1,
    ),
    (
        "[256, 256] batch 32, DQN, 16 steps a call (deep-good)",
        dict(nn_hidden_layers=[256, 256], batch_size=32, double_dqn=False, learning_rate=1.6e-4),
        16,
    ),
]


class ReferenceLearner:
    """The textbook step (rl_core.learning.reference, with Adam(fused=True) as QAgent.learn used
    before issue 14), sampling from the agent's own replay memory as ``learn`` does."""

    def __init__(self, agent: QAgent):
        self.config = agent.config
        self.memory = agent.memory
        self.reference = ReferenceDQN.from_agent(agent, fused=True)

    def learn(self, n_steps: int = 1) -> float:
        losses = self.reference.learn_on(self.memory.sample(self.config.batch_size, n_batches=n_steps))
        if not np.isfinite(losses).all():
            raise RuntimeError(f"the loss became {losses}")
        return float(np.mean(losses))


def filled_agent(changes: dict) -> QAgent:
    config = AgentConfig(memory_size=10_000, n_steps_warm_up_memory=1000, **changes)
    agent = QAgent(config)
    rng = np.random.default_rng(0)
    n = config.memory_size
    memory = agent.memory
    memory.states[:] = rng.normal(size=memory.states.shape).astype(np.float32)
    memory.next_states[:] = rng.normal(size=memory.next_states.shape).astype(np.float32)
    memory.actions[:] = rng.integers(agent.spec.n_actions, size=n)
    memory.rewards[:] = 1.0
    memory.terminated[:] = (rng.random(n) < 0.05).astype(np.float32)
    memory.size = n
    return agent


def step_times_ms(learn, n_steps: int, repeats: int, block: int = 50) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU milliseconds per gradient step, one figure per block of ``block`` steps."""
    calls = max(1, block // n_steps)
    wall, cpu = [], []
    for _ in range(max(1, repeats // (calls * n_steps))):
        start, cpu_start = time.perf_counter(), time.process_time()
        for _ in range(calls):
            learn(n_steps)
        wall.append((time.perf_counter() - start) / (calls * n_steps) * 1000)
        cpu.append((time.process_time() - cpu_start) / (calls * n_steps) * 1000)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=2000, help="gradient steps timed per path and case")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"# {machine()}, commit {git_commit()}")
    for name, changes, n_steps in CASES:
        agent = filled_agent(changes)
        reference = ReferenceLearner(agent)
        for _ in range(200 // n_steps):  # warm-up: allocator, Adam state, caches
            agent.learn(n_steps)
            reference.learn(n_steps)
        times: dict[str, list[float]] = {"new": [], "new_cpu": [], "ref": [], "ref_cpu": []}
        for _ in range(4):  # interleaved so that load from other processes hits both
            wall, cpu = step_times_ms(agent.learn, n_steps, args.repeats // 4)
            times["new"] += wall
            times["new_cpu"] += cpu
            wall, cpu = step_times_ms(reference.learn, n_steps, args.repeats // 4)
            times["ref"] += wall
            times["ref_cpu"] += cpu
        m = {k: statistics.median(v) for k, v in times.items()}
        print(
            f"{name}: QAgent.learn {m['new']:.3f} ms, reference {m['ref']:.3f} ms per gradient step "
            f"({m['ref'] / m['new']:.2f}x faster); CPU time {m['new_cpu']:.3f} ms vs {m['ref_cpu']:.3f} ms "
            f"({m['ref_cpu'] / m['new_cpu']:.2f}x)",
            flush=True,
        )


if __name__ == "__main__":
    main()
