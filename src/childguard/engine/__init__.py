"""Executors: the same plan of tasks run by a process pool (local) or Ray Data (ray)."""
