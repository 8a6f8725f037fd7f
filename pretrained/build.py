"""Rebuild the pretrained agents from scratch with the project's own CLI, and write their cards.

    python pretrained/build.py                 # every agent, then every card and the index
    python pretrained/build.py cartpole-deep-q # one agent (cards are rewritten for all)
    python pretrained/build.py --cards-only    # re-evaluate and rewrite the cards, train nothing
    python pretrained/build.py --replays-only  # only rewrite each agent's replay.gif (what Home shows at once)

Training runs on one thread and every random source is seeded, so the same seed on the same
machine gives the same agent. Each card reports two 1000-episode greedy evaluations: on seeds
0..999 and on seeds 100000..100999, which no agent was chosen on.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

AGENTS: dict[str, dict[str, str]] = {
    "cartpole-deep-q": {
        "title": "CartPole-v1, deep Q agent: the perfect one",
        "about": "The `deep-fast` preset (Double DQN, batch 128, one gradient step every 4 env steps) with the "
        "course's [256, 256] network, made stricter: it stops only once 100 greedy evaluation episodes "
        "(seeds 1,000,000 and up) all reach 500, and keeps the weights of that evaluation. Seed 1 was the "
        "first we tried. It is also the expert the Imitation page learns from.",
        "args": "--env CartPole-v1 --preset deep-fast --seed 1 --set eval_episodes=100 --set nn_hidden_layers=[256,256]",
    },
    "cartpole-linear-q": {
        "title": "CartPole-v1, linear Q agent (10 parameters)",
        "about": "The `linear-fast` preset: normalised states, gamma 0.95, learning rate 0.05, a greedy "
        "evaluation every 5 episodes keeping the best weights. Seed 3 is the first of seeds 0..9 that "
        "scored 500 over 1000 episodes in bench/RESULTS.md (3 of those 10 seeds did); the course's "
        "linear agent reports 164.65 +- 39.46. A linear Q-function cannot fit CartPole's values, but "
        "the policy it implies, push towards where the pole is falling, is linear, and can be perfect.",
        "args": "--env CartPole-v1 --preset linear-fast --seed 3",
    },
    "mountaincar-linear-q": {
        "title": "MountainCar-v0, linear Q agent (9 parameters): the course's homework",
        "about": "`linear-fast` with a long horizon (gamma 0.999) and learning rate 0.01, 500 episodes, a "
        "50-episode greedy evaluation every 10 episodes keeping the best. With -1 per step and no other "
        "signal, the long horizon is what lets the rare successful episodes pull the values towards the "
        "flag. Seed 1 was the first we tried.",
        "args": "--env MountainCar-v0 --preset linear-fast --seed 1 --episodes 500 --set discount_factor=0.999 "
        "--set learning_rate=0.01 --set eval_every_episodes=10 --set eval_episodes=50 "
        "--set steps_epsilon_decay=20000",
    },
}
EVAL_SEEDS = (0, 100_000)


def run_cli(args: list[str]) -> dict:
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy"}
    proc = subprocess.run([sys.executable, "-m", "rl_core", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"python -m rl_core {' '.join(args)} failed: {proc.stderr.strip()}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def train_into_pretrained(name: str) -> dict:
    """Train outside pretrained/ (the CLI never writes there), then swap the agent's files in.

    The folder's other files (README.md, replay.gif, replay.json) stay; they are rewritten next.
    """
    from rl_core.artifacts.storage import AGENT_FILES

    with tempfile.TemporaryDirectory() as tmp:
        summary = run_cli(["train", *shlex.split(AGENTS[name]["args"]), "--quiet", "--out", str(Path(tmp) / name)])
        (HERE / name).mkdir(exist_ok=True)
        for file_name in AGENT_FILES:
            built, shipped = Path(tmp) / name / file_name, HERE / name / file_name
            if built.is_file():
                shutil.copy2(built, shipped)
            elif shipped.is_file():
                shipped.unlink()  # normalizer.json of an agent that no longer normalises
    return summary


def write_card(name: str, spec: dict[str, str]) -> dict:
    folder = HERE / name
    metrics = json.loads((folder / "metrics.json").read_text())
    hparams = json.loads((folder / "hparams.json").read_text())
    evals = {seed: run_cli(["evaluate", str(folder), "--episodes", "1000", "--seed", str(seed)]) for seed in EVAL_SEEDS}
    command = f"python -m rl_core train {spec['args']} --out runs/{name}"
    rows = "\n".join(
        f"| {s}..{s + 999} | {e['mean']:.2f} | {e['std']:.2f} | {e['min']:.0f} | {e['max']:.0f} | "
        f"{100 * e['solved_share']:.1f}% |"
        for s, e in evals.items()
    )
    (folder / "README.md").write_text(f"""# {spec["title"]}

{spec["about"]}

## Evaluation (greedy, 1000 episodes each)

| episode seeds | mean | std | min | max | solved share |
| --- | --- | --- | --- | --- | --- |
{rows}

"Solved" means reward >= {"500 (the time limit)" if hparams["env_id"] == "CartPole-v1" else "-199 (the flag reached before the 200-step limit)"}.

## Training

- command: `{command}`
- seed {metrics["seed"]}; {metrics["episodes"]} episodes, {metrics["env_steps"]:,} env steps, {metrics["seconds"]:.1f} s of
  training ({metrics["status"]}: {metrics["message"]}), recorded in `metrics.json` when it was built
- {metrics["n_parameters"]:,} parameters; hidden layers {hparams["nn_hidden_layers"] or "none"}; every
  hyperparameter in `hparams.json`, every training episode in `history.csv`

## Rebuild

`bash pretrained/build.sh {name}` (the command above, its agent files then copied here). Training runs on one
thread with every random source seeded from the config's seed: on the same machine it reproduces this agent exactly.
""")
    return {
        "name": name,
        "env": hparams["env_id"],
        "kind": "deep" if hparams["nn_hidden_layers"] else "linear",
        "parameters": metrics["n_parameters"],
        "evals": evals,
        "seconds": metrics["seconds"],
    }


def write_replay(name: str) -> None:
    """replay.gif + replay.json: the seed-0 episode at real speed, so the app shows it without rendering."""
    from rl_core.artifacts.storage import load_agent
    from rl_core.present.rendering import save_replay

    agent = load_agent(HERE / name).agent
    path = save_replay(HERE / name, agent, agent.config.env_id, seed=0)
    print(f"== {name}: {path.relative_to(ROOT)} ({path.stat().st_size:,} bytes)", flush=True)


def write_index(cards: list[dict]) -> None:
    lines = [
        "# Pretrained agents",
        "",
        "Trained by this project's own CLI and committed (they are small). `bash pretrained/build.sh` rebuilds",
        "every one from scratch and rewrites these cards; each folder's README.md says how it was made.",
        "",
        "| agent | env | kind | parameters | seeds 0..999: mean +- std (solved) | seeds 100000..100999 | training |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for c in cards:
        a, b = (c["evals"][s] for s in EVAL_SEEDS)
        lines.append(
            f"| [{c['name']}]({c['name']}/README.md) | {c['env']} | {c['kind']} | {c['parameters']:,} | "
            f"{a['mean']:.2f} +- {a['std']:.2f} ({100 * a['solved_share']:.1f}%) | "
            f"{b['mean']:.2f} +- {b['std']:.2f} ({100 * b['solved_share']:.1f}%) | {c['seconds']:.1f} s |"
        )
    (HERE / "README.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("names", nargs="*", help=f"any of {', '.join(AGENTS)} (default: all)")
    parser.add_argument("--cards-only", action="store_true")
    parser.add_argument("--replays-only", action="store_true")
    args = parser.parse_args()
    unknown = [n for n in args.names if n not in AGENTS]
    if unknown:
        parser.error(f"unknown agent {unknown[0]!r}; choose from {', '.join(AGENTS)}")
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    if args.replays_only:
        for name in args.names or AGENTS:
            write_replay(name)
        return
    if not args.cards_only:
        for name in args.names or AGENTS:
            print(f"== training {name}", flush=True)
            summary = train_into_pretrained(name)
            print(f"   {summary['status']}: {summary['episodes']} episodes in {summary['seconds']:.1f} s", flush=True)
            write_replay(name)
    cards = []
    for name, spec in AGENTS.items():
        if (HERE / name / "model.pt").is_file():
            card = write_card(name, spec)
            cards.append(card)
            print(
                f"== {name}: "
                + ", ".join(f"seeds {s}+: {e['mean']:.2f} +- {e['std']:.2f}" for s, e in card["evals"].items()),
                flush=True,
            )
    write_index(cards)


if __name__ == "__main__":
    main()
