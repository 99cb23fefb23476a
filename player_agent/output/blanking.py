"""Screen off-hours: blank the output, or run the site's configured command to power the panel down."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Callable, Sequence

from PIL import Image

from player_agent.config import BlankingOptions
from player_agent.output.base import Output

log = logging.getLogger(__name__)

Runner = Callable[[Sequence[str], float], int]


def run_command(argv: Sequence[str], timeout_s: float) -> int:
    """Run an operator-configured argv without a shell; returns the exit code (-1 on failure)."""
    try:
        # argv comes from the local config file only, never from the network.
        done = subprocess.run(  # noqa: S603
            list(argv), check=False, timeout=timeout_s, capture_output=True
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.error("blanking command %s failed: %s", argv[0], exc)
        return -1
    if done.returncode != 0:
        log.error(
            "blanking command %s exited %d: %s",
            argv[0],
            done.returncode,
            done.stderr.decode(errors="replace").strip()[:200],
        )
    return done.returncode


class BlankingOutput:
    """Wraps an output: while blanked, frames are held back and the screen stays black (or off)."""

    def __init__(
        self,
        inner: Output,
        options: BlankingOptions | None = None,
        *,
        runner: Runner = run_command,
    ) -> None:
        self.inner = inner
        self.options = options or BlankingOptions()
        self._runner = runner
        self.blanked = False
        self.last_error: str | None = None

    def set_blank(self, blank: bool) -> None:
        """Act on transitions only, so a loop may call this every tick without re-running commands."""
        if blank == self.blanked:
            return
        self.blanked = blank
        log.info("screen %s", "blanked (off-hours)" if blank else "on")
        # Black first: if the power command fails the panel still shows nothing stale.
        if blank:
            self.inner.blank()
        command = self.options.off_command if blank else self.options.on_command
        if command:
            code = self._runner(command, self.options.timeout_s)
            self.last_error = None if code == 0 else f"{command[0]} exited {code}"

    def show(self, frame: Image.Image) -> None:
        if not self.blanked:
            self.inner.show(frame)

    def blank(self) -> None:
        self.inner.blank()

    def close(self) -> None:
        self.inner.close()
