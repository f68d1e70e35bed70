"""Workloads: the paper's benchmark layers, real models, PyTorch import, CPU/GPU baselines."""
