"""``python -m rl_core``: train, evaluate, baseline, presets (and more as the app grows).

Every command prints one JSON line as its last line of output. Bad arguments or a bad agent
folder end with exit code 2 and a one-line message on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn, cast

from rl_core.config import BOUNDS, CLI_BOUNDS, IMITATION_BOUNDS, RENDER_BOUNDS, Bound, ConfigError, parse_widths
from rl_core.envinfo import DEFAULT_ENV, SUPPORTED_ENVS
from rl_core.present.fields import fields_summary
from rl_core.presets import PRESET_NAMES, preset, presets_as_json


class CliError(Exception):
    """A user mistake: reported as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse would print usage and exit itself
        raise CliError(f"{self.prog}: {message}")


def _parse_set(items: Sequence[str]) -> dict[str, Any]:
    """--set key=value pairs; values are read as JSON when they parse, else kept as text."""
    values: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise CliError(f"--set expects key=value, got {item!r}")
        if key.strip() == "env_id":  # --env chooses it, and would silently win over --set
            raise CliError(f"--set {item}: the environment is chosen with --env")
        try:
            values[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            values[key.strip()] = raw
    return values


def _print_json(data: dict[str, Any]) -> None:
    print(json.dumps(data, allow_nan=False, default=lambda v: None), flush=True)


class ProgressBar:
    """tqdm's bar on a terminal's stderr (episodes, with the latest reward, epsilon and evaluation);
    silent when stderr is not a terminal."""

    def __init__(self, total: int, enabled: bool):
        from tqdm import tqdm

        self.bar = tqdm(
            total=total,
            unit="ep",
            desc="training",
            file=sys.stderr,
            disable=not enabled,
            dynamic_ncols=True,
            mininterval=0.1,
        )
        self.last_eval: float | None = None

    def __call__(self, event: Any) -> None:
        from rl_core.learning.training import EvalRecord

        if isinstance(event, EvalRecord):
            self.last_eval = event.mean
            return
        postfix = {"reward": f"{event.reward:.0f}", "eps": f"{event.epsilon:.2f}"}
        if self.last_eval is not None:
            postfix["eval"] = f"{self.last_eval:.1f}"
        self.bar.set_postfix(postfix, refresh=False)
        self.bar.update(event.episode - self.bar.n)

    def close(self) -> None:
        self.bar.close()


def cmd_train(args: argparse.Namespace) -> int:
    import torch

    from rl_core.artifacts.storage import save_agent
    from rl_core.learning.agent import QAgent
    from rl_core.learning.training import TensorBoardLogger, chain, train, training_metrics

    overrides = _parse_set(args.set or [])
    overrides["env_id"] = args.env
    if args.seed is not None:
        overrides["seed"] = args.seed
    if args.episodes is not None:
        overrides["n_episodes"] = args.episodes
    config = preset(args.preset, **overrides).validate()
    out = Path(args.out)
    _check_out_folder(out, args.overwrite)
    torch.set_num_threads(args.threads)
    agent = QAgent(config)
    bar = ProgressBar(config.n_episodes, enabled=sys.stderr.isatty() and not args.quiet)
    board = TensorBoardLogger(args.tensorboard) if args.tensorboard else None
    result = train(agent, callback=chain(bar, board))
    bar.close()
    if board:
        board.close()
    metrics = training_metrics(agent, result)
    if result.status == "diverged":
        print(result.message, file=sys.stderr)
        _print_json({**metrics, "saved_to": None})
        return 1
    save_agent(agent, out, metrics=metrics, history=result.episodes)
    _print_json({**metrics, "saved_to": str(out)})
    return 0


def _check_out_folder(out: Path, overwrite: bool) -> None:
    """Before any training: --out must be new, empty, or (with --overwrite) an agent folder, and never
    a shipped pretrained agent (pretrained/build.py rebuilds those).

    Saving replaces the agent's files (storage.AGENT_FILES) and keeps the folder's other files.
    """
    from rl_core.artifacts.folders import PRETRAINED_DIR

    if out.resolve().is_relative_to(PRETRAINED_DIR.resolve()):
        raise CliError(f"--out {out}: inside {PRETRAINED_DIR.name}/, the shipped agents; choose a folder outside it")
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise CliError(f"--out {out}: exists and is not a folder")
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not (out / "hparams.json").is_file() or not (out / "model.pt").is_file():
        raise CliError(f"--out {out}: an existing folder that is not an agent folder; choose a new folder")
    if not overwrite:
        raise CliError(f"--out {out}: an agent is already saved there; add --overwrite to replace it")


def cmd_evaluate(args: argparse.Namespace) -> int:
    from rl_core.artifacts.storage import load_agent
    from rl_core.learning.evaluation import evaluate

    saved = load_agent(args.folder)
    result = evaluate(
        saved.agent, saved.agent.config.env_id, n_episodes=args.episodes, seed=args.seed, epsilon=args.epsilon
    )
    _print_json({"agent": str(args.folder), "env_id": result.env_id, **result.to_dict()})
    return 0


def cmd_baseline(args: argparse.Namespace) -> int:
    from rl_core.learning.agent import RandomAgent
    from rl_core.learning.evaluation import evaluate

    result = evaluate(RandomAgent(args.env, seed=args.seed), args.env, n_episodes=args.episodes, seed=args.seed)
    _print_json({"agent": "random", "env_id": args.env, **result.to_dict()})
    return 0


def _check_out_gif(out: Path) -> None:
    """--out is a new .gif file, or a GIF to replace: never another kind of file (an agent's
    model.pt, say) that a typo would destroy."""
    if out.suffix.lower() != ".gif":
        raise CliError(f"--out {out}: give a file name ending in .gif")
    if not out.parent.is_dir():
        raise CliError(f"--out {out}: folder {out.parent} does not exist")
    if out.is_symlink() or (out.exists() and not out.is_file()):
        raise CliError(f"--out {out}: exists and is not a plain file")
    if out.exists():
        with out.open("rb") as f:
            if f.read(6) not in (b"GIF87a", b"GIF89a"):
                raise CliError(f"--out {out}: exists and is not a GIF; choose a new file")


def cmd_render(args: argparse.Namespace) -> int:
    from PIL import GifImagePlugin, Image

    from rl_core.artifacts.storage import load_agent
    from rl_core.present.rendering import record_gif

    start = time.perf_counter()
    out = Path(args.out)
    _check_out_gif(out)
    saved = load_agent(args.folder)
    gif, episode = record_gif(
        saved.agent,
        saved.agent.config.env_id,
        seed=args.seed,
        epsilon=args.epsilon,
        speed=args.speed,
        stride=args.stride,
        width=args.width,
    )
    out.write_bytes(gif)
    _print_json(
        {
            "steps": episode.steps,
            "reward": episode.total_reward,
            "frames": cast(GifImagePlugin.GifImageFile, Image.open(io.BytesIO(gif))).n_frames,
            "bytes": len(gif),
            "seconds": round(time.perf_counter() - start, 3),
            "out": str(out),
        }
    )
    return 0


def cmd_imitate(args: argparse.Namespace) -> int:
    import torch

    from rl_core.artifacts.storage import load_agent
    from rl_core.learning.imitation import evaluate_as_policy, expert_data, train_classifier

    torch.set_num_threads(args.threads)
    hidden = _parse_widths(args.hidden)
    expert = load_agent(args.expert).agent
    env_id = expert.config.env_id
    start = time.perf_counter()
    train_rows = expert_data(expert, env_id, n_rows=args.rows, seed=args.data_seed)
    test_rows = expert_data(expert, env_id, n_rows=args.test_rows, seed=args.data_seed + 1)
    result = train_classifier(train_rows, test_rows, hidden, epochs=args.epochs, seed=args.seed, env_id=env_id)
    policy = evaluate_as_policy(result, env_id, n_episodes=args.eval_episodes)
    _print_json(
        {
            "hidden": hidden,
            "parameters": result.parameters,
            "rows": args.rows,
            "test_rows": args.test_rows,
            "epochs": args.epochs,
            "train_acc": round(result.train_acc, 4),
            "test_acc": round(result.test_acc, 4),
            "policy_mean_reward": policy.mean,
            "policy_std_reward": round(policy.std, 2),
            "seconds": round(time.perf_counter() - start, 2),
        }
    )
    return 0


def _parse_widths(text: str) -> list[int]:
    try:
        return parse_widths(text, "--hidden")
    except ValueError as exc:
        raise CliError(str(exc)) from None


def cmd_tune(args: argparse.Namespace) -> int:
    import torch

    from rl_core.compute.studies import SPACES, TuningSetup
    from rl_core.compute.tuning import run_study

    torch.set_num_threads(1)
    space = dict(SPACES[args.space])
    if args.params is not None:
        names = [n.strip() for n in args.params.split(",") if n.strip()]
        unknown = [n for n in names if n not in space]
        if unknown:
            raise CliError(f"--params: {unknown[0]!r} is not in the {args.space} search space ({', '.join(space)})")
        space = {n: space[n] for n in names}
    setup = TuningSetup(
        study_name=args.study,
        storage_url=args.storage,
        base_preset=args.preset,
        env_id=args.env,
        space=space,
        episodes=args.episodes,
        eval_episodes=args.eval_episodes,
        target=args.target,
        fixed=_parse_set(args.set or []),
        prune=not args.no_pruning,
    )

    def progress(trial: dict) -> None:
        if not args.quiet:
            value = "" if trial["value"] is None else f" {trial['value']:.2f}"
            print(f"trial {trial['number']}: {trial['state']}{value}", file=sys.stderr, flush=True)

    _print_json(run_study(setup, n_trials=args.trials, workers=args.workers, on_trial=progress))
    return 0


def cmd_seeds(args: argparse.Namespace) -> int:
    from rl_core.compute.studies import parse_seed_list
    from rl_core.compute.tuning import seed_sensitivity

    try:
        seeds = parse_seed_list(args.seeds)
    except ValueError as exc:
        raise CliError(f"--seeds: {exc}") from None
    overrides = _parse_set(args.set or [])
    if args.episodes is not None:
        overrides["n_episodes"] = args.episodes
    config = preset(args.preset, env_id=args.env, **overrides).validate()
    summary = seed_sensitivity(config, seeds, workers=args.workers, eval_episodes=args.eval_episodes)
    summary.pop("rows")
    _print_json({"preset": args.preset, **summary})
    return 0


def cmd_engine(args: argparse.Namespace) -> int:
    """The local Ray instance the web app starts for a runs folder (it outlives the app by design)."""
    from rl_core.compute.engine import find_local_instance, stop_local_instance

    if args.action == "stop":
        message = stop_local_instance()
        print(message, file=sys.stderr)
        _print_json({"action": "stop", "message": message})
        return 0
    info = find_local_instance()
    _print_json({"action": "status", "running": info is not None, **(info or {})})
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    print(json.dumps(json.loads(presets_as_json())))
    return 0


class BoundedType:
    """An argparse type for a numeric option limited by one of the config's bounds (``bound``, for tests).

    argparse puts the flag in front of the message: "argument --speed: expected a number in [0.05, 10], got inf".
    """

    def __init__(self, bound: Bound, integer: bool):
        self.bound, self.integer = bound, integer
        self.__name__ = "integer" if integer else "number"  # what argparse calls the type in its messages

    def __call__(self, text: str) -> int | float:
        kind = "an integer" if self.integer else "a number"
        try:
            value: int | float = int(text) if self.integer else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {kind} in {self.bound.describe()}, got {text[:40]!r}") from None
        if not self.bound.contains(value):
            raise argparse.ArgumentTypeError(f"expected {kind} in {self.bound.describe()}, got {value}")
        return value


def _integer(bound: Bound) -> BoundedType:
    return BoundedType(bound, integer=True)


def _number(bound: Bound) -> BoundedType:
    return BoundedType(bound, integer=False)


_seed = _integer(BOUNDS["seed"])
_threads = _integer(CLI_BOUNDS["threads"])
_workers = _integer(CLI_BOUNDS["workers"])
_eval_episodes = _integer(CLI_BOUNDS["eval_episodes"])
_episodes = _integer(BOUNDS["n_episodes"])
_epsilon = _number(CLI_BOUNDS["epsilon"])


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m rl_core", description="Q-Lab: parametric Q-learning on classic control.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("train", help="train an agent and save its folder")
    p.add_argument("--env", default=DEFAULT_ENV, choices=SUPPORTED_ENVS)
    p.add_argument("--preset", default="deep-fast", choices=PRESET_NAMES)
    p.add_argument("--seed", type=_seed)
    p.add_argument("--episodes", type=_episodes)
    p.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help=f"override any hyperparameter ({fields_summary()})"
    )
    p.add_argument("--out", required=True, help="the agent folder to write (new, empty, or an agent with --overwrite)")
    p.add_argument("--overwrite", action="store_true", help="replace the agent already saved in --out")
    p.add_argument("--threads", type=_threads, default=1, help="torch threads (1 is fastest for small nets)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--tensorboard", metavar="DIR", help="also write TensorBoard logs to DIR")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="greedy evaluation of a saved agent")
    p.add_argument("folder")
    p.add_argument("--episodes", type=_eval_episodes, default=1000)
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument("--epsilon", type=_epsilon, default=0.0)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("baseline", help="the random agent's evaluation")
    p.add_argument("--env", default=DEFAULT_ENV, choices=SUPPORTED_ENVS)
    p.add_argument("--episodes", type=_eval_episodes, default=1000)
    p.add_argument("--seed", type=_seed, default=0)
    p.set_defaults(func=cmd_baseline)

    p = sub.add_parser("render", help="render one episode of a saved agent as a GIF")
    p.add_argument("folder")
    p.add_argument("--out", required=True, help="the .gif file to write")
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument("--epsilon", type=_epsilon, default=0.0)
    p.add_argument("--width", type=_integer(RENDER_BOUNDS["width"]), default=300, help="GIF width in pixels")
    p.add_argument(
        "--speed", type=_number(RENDER_BOUNDS["speed"]), default=1.0, help="1 = real time, 0.25 = slow motion"
    )
    p.add_argument(
        "--stride",
        type=_integer(RENDER_BOUNDS["stride"]),
        default=None,
        help="keep every Nth frame (default: real speed's)",
    )
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("imitate", help="learn an expert agent's policy by supervised learning")
    p.add_argument("--expert", default="pretrained/cartpole-deep-q")
    p.add_argument("--rows", type=_integer(IMITATION_BOUNDS["rows"]), default=1000, help="training rows")
    p.add_argument("--test-rows", type=_integer(IMITATION_BOUNDS["rows"]), default=1000)
    p.add_argument("--hidden", default="256,256", help="hidden widths, e.g. 256,256; 'linear' for none")
    p.add_argument("--epochs", type=_integer(IMITATION_BOUNDS["epochs"]), default=150)
    p.add_argument("--seed", type=_seed, default=0, help="the network's initialisation and shuffling")
    p.add_argument("--data-seed", type=_seed, default=0, help="train rows' env seed; test rows use the next one")
    p.add_argument("--eval-episodes", type=_integer(IMITATION_BOUNDS["eval_episodes"]), default=1000)
    p.add_argument("--threads", type=_threads, default=1)
    p.set_defaults(func=cmd_imitate)

    p = sub.add_parser("tune", help="run trials of a (shared) Optuna study on Ray workers")
    p.add_argument("--study", required=True)
    p.add_argument("--storage", default=None, help="an Optuna storage URL; default: a SQLite file under runs/")
    p.add_argument("--preset", default="deep-fast", choices=PRESET_NAMES, help="values for what is not searched")
    p.add_argument("--env", default=DEFAULT_ENV, choices=SUPPORTED_ENVS)
    p.add_argument(
        "--space",
        default="focused",
        choices=["focused", "course"],
        help="the search space: ours around deep-fast, or the course's",
    )
    p.add_argument("--params", default=None, help="comma-separated hyperparameters to search (default: all)")
    p.add_argument("--trials", type=_integer(CLI_BOUNDS["trials"]), default=20)
    p.add_argument("--episodes", type=_episodes, default=200, help="training episodes per trial")
    p.add_argument("--eval-episodes", type=_eval_episodes, default=1000)
    p.add_argument(
        "--target", type=_number(CLI_BOUNDS["target"]), default=500.0, help="stop the study once a trial reaches this"
    )
    p.add_argument("--no-pruning", action="store_true", help="let every trial train all its episodes")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="fix a hyperparameter in every trial")
    p.add_argument("--workers", type=_workers, default=1, help="trials trained at once, one CPU each")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_tune)

    p = sub.add_parser("seeds", help="train one config on many seeds in parallel; how much does the seed matter?")
    p.add_argument("--preset", default="deep-fast", choices=PRESET_NAMES)
    p.add_argument("--env", default=DEFAULT_ENV, choices=SUPPORTED_ENVS)
    p.add_argument("--seeds", default="0-9", help="e.g. 0-9 or 0,3,5")
    p.add_argument("--episodes", type=_episodes, default=None)
    p.add_argument("--eval-episodes", type=_eval_episodes, default=1000)
    p.add_argument(
        "--workers",
        type=_workers,
        default=None,
        help="seeds trained at once, one CPU each (default: every CPU of the Ray cluster)",
    )
    p.add_argument("--set", action="append", metavar="KEY=VALUE")
    p.set_defaults(func=cmd_seeds)

    p = sub.add_parser(
        "engine",
        help="the web app's local Ray instance for this runs folder ($QLAB_RUNS_DIR): status, or stop it "
        "(and every job it runs)",
    )
    p.add_argument("action", choices=["status", "stop"])
    p.set_defaults(func=cmd_engine)

    p = sub.add_parser("presets", help="every preset with its values, as JSON")
    p.set_defaults(func=cmd_presets)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from rl_core.artifacts.folders import AgentFolderError
    from rl_core.compute.engine import EngineUnavailable
    from rl_core.compute.jobs import JobFailed
    from rl_core.compute.registry import JobLimitReached
    from rl_core.present.rendering import RenderError

    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except (
        CliError,
        ConfigError,
        AgentFolderError,
        ValueError,
        RenderError,
        OSError,
        EngineUnavailable,
        JobFailed,
        JobLimitReached,
    ) as exc:
        message = " ".join(str(exc).split())  # one line, whatever the exception held
        print(f"error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
