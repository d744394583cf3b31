"""Fixtures the fault-injection tests share with the stage tests."""

from tests.stages.conftest import project  # noqa: F401  (a tiny synthetic project the stages run in)
