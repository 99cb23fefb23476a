"""How a brightness level reaches the LED: the controller's own command, else dimmed frames.

The level itself comes from signage_core.brightness (the manifest's plan, the operator's override,
an alert, the site's light sensor). Commands are argv lists from the local config file, run without
a shell, with a timeout; a failure is reported once per cause and retried on the next change or
after RETRY_S.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PIL import Image

from player_agent.config import BrightnessOptions
from signage_core.brightness import Level, sensor_percent

log = logging.getLogger(__name__)

# A failed brightness command is tried again this often while the level stays the same.
RETRY_S = 60.0
# Software dimming: LED brightness is light output, frames are gamma-encoded (sRGB, about 2.2).
GAMMA = 2.2
PLACEHOLDER = "{percent}"


@dataclass(frozen=True, slots=True)
class Ran:
    """What a command did: exit code (-1: could not run or timed out), its stdout, and why it failed."""

    code: int
    stdout: str
    error: str | None


Runner = Callable[[Sequence[str], float], Ran]


def run_argv(argv: Sequence[str], timeout_s: float) -> Ran:
    """Run a configured argv without a shell; never raises."""
    try:
        # argv comes from the local config file only, never from the network.
        done = subprocess.run(list(argv), check=False, timeout=timeout_s, capture_output=True)  # noqa: S603
    except subprocess.TimeoutExpired:
        return Ran(-1, "", f"{argv[0]} did not finish within {timeout_s:g} s")
    except OSError as exc:
        return Ran(-1, "", f"{argv[0]} cannot be run: {exc.strerror or exc}")
    if done.returncode != 0:
        err = done.stderr.decode(errors="replace").strip()[:200]
        return Ran(done.returncode, "", f"{argv[0]} exited {done.returncode}" + (f": {err}" if err else ""))
    return Ran(0, done.stdout.decode(errors="replace"), None)


def command_for(template: Sequence[str], percent: int) -> list[str]:
    """The configured argv with {percent} replaced in each word (the only substitution there is)."""
    return [word.replace(PLACEHOLDER, str(percent)) for word in template]


_LUTS: dict[int, list[int]] = {}


def dim_lut(percent: int) -> list[int]:
    """A 3-band `Image.point` table scaling light output to `percent` (gamma-aware), cached per level."""
    lut = _LUTS.get(percent)
    if lut is None:
        factor = (max(0, min(percent, 100)) / 100) ** (1 / GAMMA)
        band = [round(v * factor) for v in range(256)]
        lut = _LUTS[percent] = band * 3
    return lut


def dim(frame: Image.Image, percent: int) -> Image.Image:
    """The frame at `percent` of its light output; the frame itself at 100 %."""
    if percent >= 100:
        return frame
    rgb = frame if frame.mode == "RGB" else frame.convert("RGB")
    return rgb.point(dim_lut(percent))


class BrightnessControl:
    """Applies levels (command or software dimming) and reads the optional light sensor."""

    def __init__(self, options: BrightnessOptions, *, runner: Runner = run_argv) -> None:
        self.options = options
        self._runner = runner
        self.applied: int | None = None  # the level the controller last accepted
        self._failed_at: float | None = None  # monotonic time of the last failed attempt
        self._tried: int | None = None
        self.error: str | None = None  # the brightness command's current failure, for the heartbeat
        self.sensor_error: str | None = None
        self._sensor: int | None = None
        self._sensor_read_at: float | None = None

    @property
    def software(self) -> bool:
        """No controller command configured: the player dims its own frames."""
        return not self.options.command

    def apply(self, level: Level | None, mono: float) -> None:
        """Hand a new level to the controller's command; a failed one is retried after RETRY_S."""
        if level is None or self.software:
            return
        percent = level.percent
        if percent == self.applied:
            return
        if percent == self._tried and self._failed_at is not None and mono - self._failed_at < RETRY_S:
            return
        argv = command_for(self.options.command, percent)
        ran = self._runner(argv, self.options.timeout_s)
        self._tried = percent
        if ran.error is None:
            log.info("brightness %d %% (%s)", percent, level.source.value)
            self.applied, self._failed_at, self.error = percent, None, None
            return
        if ran.error != self.error:
            log.error("brightness command failed: %s", ran.error)
        self._failed_at, self.error = mono, f"brightness command failed: {ran.error}"

    def forget(self) -> None:
        """The controller's level is unknown again (panel powered off): the next level is sent even if unchanged."""
        self.applied = None

    def frame(self, frame: Image.Image, level: Level | None,
              dimmed: Callable[[int], Image.Image] | None = None) -> Image.Image:
        """What goes to the output: dimmed in software when no command sets the LED's own level.

        `dimmed` gives the same frame at a level more cheaply where it can (a ticker crops a strip dimmed once).
        """
        if level is None or not self.software or level.percent >= 100:
            return frame
        return dimmed(level.percent) if dimmed is not None else dim(frame, level.percent)

    def sensor(self, mono: float) -> int | None:
        """The sensor's level (lux through the curve), read at most every period; None without one or on failure."""
        opts = self.options
        if not opts.sensor_command:
            return None
        if self._sensor_read_at is not None and mono - self._sensor_read_at < opts.sensor_period_s:
            return self._sensor
        self._sensor_read_at = mono
        ran = self._runner(list(opts.sensor_command), opts.timeout_s)
        error = ran.error
        if error is None:
            try:
                lux = float(ran.stdout.strip().split()[0])
                if not lux >= 0:  # NaN too
                    raise ValueError(lux)
            except (ValueError, IndexError):
                error = f"{opts.sensor_command[0]} printed {ran.stdout.strip()[:40]!r}, not a lux value"
            else:
                self._sensor, self.sensor_error = sensor_percent(lux, opts.sensor_curve), None
                return self._sensor
        if error != self.sensor_error:
            log.error("light sensor: %s; following the plan", error)
        self._sensor, self.sensor_error = None, f"light sensor: {error}; following the plan"
        return None
