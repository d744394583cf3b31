"""Tests of benchmarks/gpu/: the parts of make gpu-check."""
