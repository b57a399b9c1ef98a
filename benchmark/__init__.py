"""Benchmarks of exported bundles (latency, memory, size, accuracy) and scoring of predictions."""
