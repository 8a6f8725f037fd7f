"""Learning: environments, Q-functions, the replay buffer, the agent, its training loop, its
evaluation and the supervised crash course. Imports only rl_core.config."""
