"""What a screen is: native size, layout, languages in display order, colours and margins."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from signage_core.languages import Language

Layout = Literal["stacked", "rotate", "ticker"]
ImageMode = Literal["fill", "fit", "letterbox", "beside"]
RGB = tuple[int, int, int]


class ScreenSpec(BaseModel):
    """One LED screen as the renderer sees it; frozen so layouts can be cached by it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    width: int = Field(gt=0, le=16384)
    height: int = Field(gt=0, le=16384)
    layout: Layout = "stacked"
    languages: tuple[Language, ...] = (Language.VI, Language.EN, Language.KM)
    # Advertising Law 16/2012/QH13 Art. 18(2): foreign text at most 3/4 of the Vietnamese size.
    foreign_ratio: float = Field(default=0.75, gt=0.0, le=1.0)
    image_mode: ImageMode = "fill"
    background: RGB = (0, 0, 0)
    text_colour: RGB = (255, 255, 255)
    # Safe margin on every side; None picks 4 % of the shorter side (LED cabinets crop edges).
    margin_px: int | None = Field(default=None, ge=0)
    # How much a background image is darkened under text (0 = not at all, 1 = black).
    image_dim: float = Field(default=0.5, ge=0.0, le=1.0)
    ticker_separator: str = "  •  "

    @field_validator("background", "text_colour")
    @classmethod
    def _colour(cls, value: RGB) -> RGB:
        if any(not 0 <= c <= 255 for c in value):
            raise ValueError(f"colour {value} has a channel outside 0..255")
        return value

    @model_validator(mode="after")
    def _languages(self) -> ScreenSpec:
        if not self.languages:
            raise ValueError("a screen needs at least one language")
        if len(set(self.languages)) != len(self.languages):
            raise ValueError(f"languages repeat: {[lang.value for lang in self.languages]}")
        if Language.VI in self.languages and self.languages[0] != Language.VI:
            raise ValueError("Vietnamese must come first (Advertising Law 16/2012/QH13 Art. 18(2))")
        if 2 * self.margin >= min(self.width, self.height):
            raise ValueError(
                f"margin {self.margin} px leaves no room on a {self.size_label} screen"
            )
        return self

    @property
    def margin(self) -> int:
        if self.margin_px is not None:
            return self.margin_px
        return max(2, round(0.04 * min(self.width, self.height)))

    @property
    def size_label(self) -> str:
        return f"{self.width}×{self.height}"

    @classmethod
    def parse_size(cls, text: str) -> tuple[int, int]:
        """'768x384' -> (768, 384), naming the input when it is not WIDTHxHEIGHT."""
        parts = text.lower().replace("×", "x").split("x")
        if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
            raise ValueError(f"screen size {text!r} is not WIDTHxHEIGHT, e.g. 768x384")
        return int(parts[0]), int(parts[1])
