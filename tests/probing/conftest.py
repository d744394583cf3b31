"""The stage tests' tiny synthetic project, for the probing code that runs as a stage."""

from tests.stages.conftest import project  # noqa: F401
