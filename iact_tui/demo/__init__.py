"""The offline release sandbox behind ``iact-tui demo DIR`` and ``iact-tui --demo``.

Builds a bare origin, the operator's clone of a sample Django project with months of
Conventional Commits and release tags, and two deploy targets serving the latest
release on loopback ports. No Textual import here.
"""

from iact_tui.demo.sandbox import Sandbox, build_sandbox, describe, is_sandbox, start_sandbox, stop_sandbox

__all__ = ["Sandbox", "build_sandbox", "describe", "is_sandbox", "start_sandbox", "stop_sandbox"]
