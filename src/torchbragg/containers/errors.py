"""The exceptions of the container steps."""
from __future__ import annotations

class ContainerError(RuntimeError):
    """A container step failed (the message is one line)."""


class EngineUnavailable(ContainerError):
    """No Docker engine answers and none could be started (a skip unless REQUIRE_DOCKER=1)."""
