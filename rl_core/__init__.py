"""Q-Lab's library: parametric Q-learning on Gymnasium's classic-control tasks.

from rl_core import QAgent, preset, train, evaluate, save_agent, load_agent
agent = QAgent(preset("deep-fast", seed=1))
result = train(agent)
print(evaluate(agent, "CartPole-v1", n_episodes=1000).summary())
"""

from rl_core.artifacts.folders import AgentFolderError
from rl_core.artifacts.storage import load_agent, save_agent
from rl_core.config import AgentConfig, ConfigError
from rl_core.learning.agent import QAgent, RandomAgent, TrainingDiverged
from rl_core.learning.evaluation import EvalResult, evaluate, evaluate_sequential
from rl_core.learning.training import EpisodeRecord, EvalRecord, TrainResult, train
from rl_core.presets import PRESET_NAMES, preset

__all__ = [
    "AgentConfig",
    "AgentFolderError",
    "ConfigError",
    "EpisodeRecord",
    "EvalRecord",
    "EvalResult",
    "PRESET_NAMES",
    "QAgent",
    "RandomAgent",
    "TrainResult",
    "TrainingDiverged",
    "evaluate",
    "evaluate_sequential",
    "load_agent",
    "preset",
    "save_agent",
    "train",
]
