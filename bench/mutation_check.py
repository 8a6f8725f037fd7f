"""Mutation check: realistic one-line bugs in rl_core, each run against the non-browser test suite.

Each mutant is a copy of rl_core with one line changed, put first on PYTHONPATH (the worktree itself is
never edited); pytest's JUnit report says which tests failed. A mutant that no test kills is a behaviour
the suite does not guard; one killed by a single test is guarded once.

    python bench/mutation_check.py                      # every mutant, the whole non-browser suite
    python bench/mutation_check.py --only replay_newest --tests tests/test_replay.py tests/test_behaviours.py

Prints one line per mutant and, last, one JSON object {name: [killing tests]}.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BROWSER_TESTS = ["tests/test_e2e.py", "tests/test_class_e2e.py"]

# name -> (file under rl_core, the text as it is (found exactly once), the text broken)
MUTANTS: dict[str, tuple[str, str, str]] = {
    "truncation_stored_terminal": (
        "training.py",
        "agent.observe(obs, action, float(reward), next_obs, terminated, should_stop",
        "agent.observe(obs, action, float(reward), next_obs, terminated or truncated, should_stop",
    ),
    "replay_newest_batch": (
        "replay.py",
        "return self.rng.integers(0, self.size, size=shape)",
        "return np.broadcast_to((self.position - 1 - np.arange(batch_size)) % self.size, shape).copy()",
    ),
    "replay_size_one_short": (
        "replay.py",
        "self.size = min(self.size + 1, self.capacity)",
        "self.size = min(self.size + 1, self.capacity - 1)",
    ),
    "evaluation_skips_normaliser": (
        "agent.py",
        "(self.preprocess(states))\n\n    def greedy_actions(self, states: np.ndarray) -> np.ndarray:\n"
        "        return np.argmax(self.q_values(states), axis=-1)",
        "(self.preprocess(states))\n\n    def greedy_actions(self, states: np.ndarray) -> np.ndarray:\n"
        "        return np.argmax(self._fast_q(np.asarray(states, dtype=np.float32)), axis=-1)",
    ),
    "no_terminal_mask": (
        "agent.py",
        "(1.0 - np.asarray(terminated, dtype=np.float32))",
        "np.ones_like(np.asarray(terminated, dtype=np.float32))",
    ),
    "epsilon_not_clamped": (
        "agent.py",
        "fraction = min(env_step / c.steps_epsilon_decay, 1.0)",
        "fraction = env_step / c.steps_epsilon_decay",
    ),
    "target_synced_on_train_cadence": (
        "agent.py",
        "if self.env_steps % c.freq_steps_update_target == 0:",
        "if self.env_steps % c.freq_steps_train == 0:",
    ),
    "learns_during_warm_up": (
        "agent.py",
        "if self.env_steps >= c.n_steps_warm_up_memory and self.env_steps % c.freq_steps_train == 0:",
        "if self.env_steps >= c.n_steps_warm_up_memory or self.env_steps % c.freq_steps_train == 0:",
    ),
    "double_dqn_picks_with_target": (
        "agent.py",
        "next_q = target_next_q.gather(-1, online_next_q.argmax(dim=-1, keepdim=True)).squeeze(-1)",
        "next_q = target_next_q.gather(-1, target_next_q.argmax(dim=-1, keepdim=True)).squeeze(-1)",
    ),
    "clipping_inverted": ("agent.py", "if clip < 1.0:", "if clip > 1.0:"),
    "evaluation_counts_after_the_end": ("evaluation.py", "rewards[idx] += reward[idx]", "rewards += reward"),
    "evaluation_unseeded_generic": (
        "evaluation.py",
        "obs, _ = venv.reset(seed=seeds.start)",
        "obs, _ = venv.reset()",
    ),
    "keep_best_without_copy": (
        "training.py",
        "best_weights = copy.deepcopy(agent.q_net.state_dict())",
        "best_weights = agent.q_net.state_dict()",
    ),
    "normaliser_variance_not_std": ("envs.py", "std = states.std(axis=0)", "std = states.var(axis=0)"),
    "load_refits_normaliser": (
        "storage.py",
        "agent = QAgent(config, normalizer=normalizer, spec=spec)",
        "agent = QAgent(config, spec=spec)",
    ),
}


def default_tests() -> list[str]:
    return sorted(
        str(p.relative_to(ROOT))
        for p in (ROOT / "tests").glob("test_*.py")
        if str(p.relative_to(ROOT)) not in BROWSER_TESTS
    )


def mutant_copy(where: Path, file: str, old: str, new: str) -> None:
    shutil.copytree(ROOT / "rl_core", where / "rl_core", ignore=shutil.ignore_patterns("__pycache__"))
    (where / "pretrained").symlink_to(ROOT / "pretrained")  # rl_core finds it beside itself
    if not file:
        return  # the baseline: rl_core as it is
    found = list((where / "rl_core").rglob(file))  # by its name, wherever its subpackage is
    if len(found) != 1:
        raise SystemExit(f"{file}: {len(found)} modules of that name under rl_core, not one")
    path = found[0]
    text = path.read_text()
    if text.count(old) != 1:
        raise SystemExit(f"{file}: the line to break occurs {text.count(old)} times, not once: {old!r}")
    path.write_text(text.replace(old, new))


def failing_tests(report: Path) -> list[str]:
    if not report.exists():
        return ["<no report: pytest crashed>"]
    failed = []
    for case in ET.parse(report).iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed.append(f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}")
    return failed


def run(name: str, tests: list[str], workdir: Path) -> tuple[list[str], float]:
    file, old, new = MUTANTS[name] if name != "baseline" else ("", "", "")
    where = workdir / name
    mutant_copy(where, file, old, new)
    report = where / "report.xml"
    env = {**os.environ, "PYTHONPATH": str(where), "SDL_VIDEODRIVER": "dummy"}
    start = time.perf_counter()
    subprocess.run(
        # -P: the working directory is not put first on sys.path, so the mutant's rl_core is the one imported
        [sys.executable, "-P", "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}", *tests],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return failing_tests(report), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", choices=["baseline", *sorted(MUTANTS)], help="default: all")
    parser.add_argument("--tests", nargs="*", help="test files (default: every non-browser test file)")
    args = parser.parse_args()
    tests = args.tests or default_tests()
    results: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory(prefix="qlab-mutants-") as tmp:
        for name in args.only or ["baseline", *MUTANTS]:  # the baseline must fail nothing
            killers, seconds = run(name, tests, Path(tmp))
            results[name] = killers
            verdict = "SURVIVED" if not killers else f"killed by {len(killers)}"
            print(f"{name:34s} {verdict:14s} {seconds:6.0f} s  {', '.join(killers[:6])}", flush=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
