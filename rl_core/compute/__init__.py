"""Compute: the engine (Ray), the job registry and its service, the workers' tasks, tuning studies."""
