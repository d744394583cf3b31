"""Tests of benchmarks/: the scripts a GPU box runs without installing the project."""
