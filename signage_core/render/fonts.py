"""Font registry: per-script fallback chains from fonts/fonts.toml, fonts loaded once per size."""

from __future__ import annotations

import bisect
import logging
import shutil
import struct
import subprocess
import unicodedata
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import regex
from PIL import ImageFont, features

from signage_core.fsutil import read_toml
from signage_core.render.errors import RenderError

log = logging.getLogger(__name__)

# The repo's fonts/ folder: where fonts.toml and operator-supplied font files live.
DEFAULT_FONTS_DIR = Path(__file__).resolve().parents[2] / "fonts"


_SIZES_KEPT = 128


class Script(str):
    """A writing system as fonts.toml's [chains] keys it: a Unicode script name in lower case."""

    LATIN: ClassVar[Script]
    KHMER: ClassVar[Script]

    @property
    def value(self) -> str:
        return str.__str__(self)

    def __repr__(self) -> str:
        return f"Script({self.value!r})"

    def __str__(self) -> str:
        return self.value


Script.LATIN = Script("latin")  # also every letter of a script no chain is configured for
Script.KHMER = Script("khmer")


@lru_cache(maxsize=64)
def script_pattern(script: str) -> regex.Pattern[str]:
    """The Unicode Script property a chain key names (han, lao, thai, cyrillic, ...)."""
    try:
        return regex.compile(rf"\p{{Script={script}}}")
    except regex.error as exc:
        raise RenderError(f"[chains] {script!r} is not a Unicode script name: {exc}") from exc


def require_raqm() -> None:
    """Refuse to start without HarfBuzz shaping: Khmer drawn by the basic engine is garbage."""
    if not features.check_feature("raqm"):
        raise RenderError(
            "Pillow has no libraqm (complex text layout): Khmer would be drawn unshaped. "
            "Install libraqm (Debian: apt-get install libraqm0) and a Pillow built with it."
        )


class Coverage:
    """The code points a font maps to a real glyph (not .notdef), as sorted closed ranges."""

    def __init__(self, ranges: Sequence[tuple[int, int]]) -> None:
        merged: list[tuple[int, int]] = []
        for start, end in sorted(ranges):
            if merged and start <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((start, end))
        self._starts = [r[0] for r in merged]
        self._ranges = merged

    def __contains__(self, codepoint: object) -> bool:
        if not isinstance(codepoint, int):
            return False
        i = bisect.bisect_right(self._starts, codepoint) - 1
        return i >= 0 and self._ranges[i][1] >= codepoint


def read_coverage(path: Path, index: int = 0) -> Coverage:
    """Read the font's Unicode cmap so fallback can pick a font without drawing tofu."""
    data = path.read_bytes()
    try:
        return _parse_cmap(data, index)
    except (struct.error, IndexError, ValueError) as exc:
        raise RenderError(f"font file {path} has no readable Unicode cmap table: {exc}") from exc


def _parse_cmap(data: bytes, index: int = 0) -> Coverage:
    base = 0
    if data[:4] == b"ttcf":  # a collection: the face at `index` is the one Pillow loads
        (base,) = struct.unpack_from(">I", data, 12 + 4 * index)
    (num_tables,) = struct.unpack_from(">H", data, base + 4)
    cmap_at = None
    for i in range(num_tables):
        tag, _checksum, offset, _length = struct.unpack_from(">4sIII", data, base + 12 + 16 * i)
        if tag == b"cmap":
            cmap_at = offset
    if cmap_at is None:
        raise ValueError("no cmap table")
    _version, n_sub = struct.unpack_from(">HH", data, cmap_at)
    subtables: dict[tuple[int, int], int] = {}
    for i in range(n_sub):
        platform, encoding, offset = struct.unpack_from(">HHI", data, cmap_at + 4 + 8 * i)
        subtables[(platform, encoding)] = cmap_at + offset
    # Full-repertoire (format 12) tables first, then BMP-only ones.
    for key in ((3, 10), (0, 6), (0, 4), (3, 1), (0, 3), (0, 2), (0, 1), (0, 0)):
        if key in subtables:
            at = subtables[key]
            (fmt,) = struct.unpack_from(">H", data, at)
            if fmt == 12:
                return Coverage(_format12(data, at))
            if fmt == 4:
                return Coverage(_format4(data, at))
    raise ValueError("no Unicode subtable of format 4 or 12")


def _format12(data: bytes, at: int) -> list[tuple[int, int]]:
    (n_groups,) = struct.unpack_from(">I", data, at + 12)
    ranges = []
    for i in range(n_groups):
        start, end, glyph = struct.unpack_from(">III", data, at + 16 + 12 * i)
        if glyph == 0:  # the first code point maps to .notdef, the rest are real
            start += 1
        if start <= end:
            ranges.append((start, end))
    return ranges


def _format4(data: bytes, at: int) -> list[tuple[int, int]]:
    (seg_x2,) = struct.unpack_from(">H", data, at + 6)
    seg = seg_x2 // 2
    ends = struct.unpack_from(f">{seg}H", data, at + 14)
    starts = struct.unpack_from(f">{seg}H", data, at + 16 + seg_x2)
    deltas = struct.unpack_from(f">{seg}h", data, at + 16 + 2 * seg_x2)
    range_offsets_at = at + 16 + 3 * seg_x2
    range_offsets = struct.unpack_from(f">{seg}H", data, range_offsets_at)
    ranges = []
    for i in range(seg):
        start, end = starts[i], ends[i]
        if start == 0xFFFF:
            continue
        if range_offsets[i] == 0:
            for c in range(start, end + 1):
                if (c + deltas[i]) & 0xFFFF:
                    ranges.append((c, c))
            continue
        for c in range(start, end + 1):
            where = range_offsets_at + 2 * i + range_offsets[i] + 2 * (c - start)
            (glyph,) = struct.unpack_from(">H", data, where)
            if glyph and (glyph + deltas[i]) & 0xFFFF:
                ranges.append((c, c))
    return ranges


@dataclass(eq=False)
class FontFace:
    """One font file at one weight; sizes are variants of a single loaded face."""

    key: str
    path: Path
    weight: int
    coverage: Coverage
    _base: ImageFont.FreeTypeFont
    _sizes: OrderedDict[int, ImageFont.FreeTypeFont] = field(default_factory=OrderedDict)
    index: int = 0  # the face within a collection (.ttc)

    @classmethod
    def load(cls, key: str, path: Path, weight: int, index: int = 0) -> FontFace:
        if not path.is_file():
            raise RenderError(f"font {key!r}: file {path} does not exist")
        try:
            base = ImageFont.truetype(
                str(path), 32, index=index, layout_engine=ImageFont.Layout.RAQM
            )
        except OSError as exc:
            raise RenderError(f"font {key!r}: cannot open {path}: {exc}") from exc
        face = cls(
            key=key, path=path, weight=weight, coverage=read_coverage(path, index), _base=base,
            index=index,
        )
        face._apply_weight(base)
        return face

    def covers(self, text: str) -> bool:
        return all(ord(ch) in self.coverage for ch in text)

    def at(self, size: int) -> ImageFont.FreeTypeFont:
        """The face at a pixel size, created once and kept (fonts are loaded once, cached per size)."""
        font = self._sizes.get(size)
        if font is None:
            font = self._base.font_variant(size=size)
            self._apply_weight(font)
            self._sizes[size] = font
            if len(self._sizes) > _SIZES_KEPT:  # the fit search probes many sizes over months
                self._sizes.popitem(last=False)
        else:
            self._sizes.move_to_end(size)
        return font

    def _apply_weight(self, font: ImageFont.FreeTypeFont) -> None:
        try:
            axes = font.get_variation_axes()
        except OSError:
            return  # a static font: its weight is its file
        values: list[float] = []
        for axis in axes:
            name = axis["name"]
            label = name.decode("ascii", "replace") if isinstance(name, bytes) else str(name)
            low, high, default = axis["minimum"], axis["maximum"], axis["default"]
            if label.strip().lower() in ("weight", "wght") and low is not None and high is not None:
                values.append(float(min(max(self.weight, low), high)))
            else:
                values.append(float(default or 0))
        font.set_variation_by_axes(values)


@dataclass(eq=False)
class FontRegistry:
    """Which fonts draw which script, in fallback order, and how small each script may get."""

    chains: Mapping[Script, tuple[FontFace, ...]]
    min_px: Mapping[Script, int]
    # Scripts whose fonts could not be found (a Debian font package missing on a player): why, by
    # script. Their letters are refused by code point like any missing glyph; Latin and Khmer, which
    # every screen shows, are never here (their absence stops the start instead).
    unavailable: Mapping[Script, str] = field(default_factory=dict)
    _scripts_of: dict[str, Script | None] = field(default_factory=dict)

    def script_of(self, ch: str) -> Script | None:
        """The chain a character needs, or None for characters shared by scripts (digits, punctuation)."""
        if ch in self._scripts_of:
            return self._scripts_of[ch]
        found: Script | None = None
        for script in self.chains:
            if script != Script.LATIN and script_pattern(script).match(ch):
                found = script
                break
        else:
            if unicodedata.category(ch)[0] in "LM":
                found = Script.LATIN
        self._scripts_of[ch] = found
        return found

    def check_languages(self, source: str) -> None:
        """Every configured language's script needs a chain: refuse at start, naming both."""
        from signage_core.languages import registry

        for info in registry().languages:
            if info.script not in self.chains and info.script not in self.unavailable:
                raise RenderError(
                    f"{source}: language {info.code!r} is written in script {info.script!r} "
                    f"but [chains] has no {info.script!r} list of fonts"
                )

    def face_for(self, text: str, script: Script) -> FontFace | None:
        """The first font of the script's chain that has every glyph of `text`."""
        for face in self.chains[script]:
            if face.covers(text):
                return face
        return None

    @classmethod
    def from_toml(cls, path: Path) -> FontRegistry:
        config = read_toml(path, "font configuration", RenderError)
        return cls.from_config(config, base_dir=path.parent, source=str(path))

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, base_dir: Path, source: str) -> FontRegistry:
        require_raqm()
        default_weight = int(config.get("defaults", {}).get("weight", 400))
        font_specs: Mapping[str, Any] = config.get("fonts", {})
        loaded: dict[str, FontFace] = {}

        def face(key: str) -> FontFace:
            if key not in loaded:
                spec = font_specs.get(key)
                if not isinstance(spec, Mapping):
                    raise RenderError(
                        f"{source}: chain names font {key!r} but [fonts.{key}] is missing"
                    )
                weight = int(spec.get("weight", default_weight))
                path, index = _locate(key, spec, weight, base_dir, source)
                loaded[key] = FontFace.load(key, path, weight, index)
            return loaded[key]

        chains_cfg: Mapping[str, Any] = config.get("chains", {})
        chains: dict[Script, tuple[FontFace, ...]] = {}
        unavailable: dict[Script, str] = {}
        # A chain no configured language writes with needs no font installed (a deployment that
        # drops zh-Hans from languages.toml needs no CJK package); its letters are refused by code point.
        from signage_core.languages import registry

        used = {info.script for info in registry().languages}
        for name in dict.fromkeys([Script.LATIN.value, Script.KHMER.value, *chains_cfg]):
            names = chains_cfg.get(name)
            if not isinstance(names, list) or not names:
                raise RenderError(f"{source}: [chains] needs a non-empty list for {name!r}")
            script_pattern(name)  # a key that is no Unicode script is refused here, by name
            if name in (Script.LATIN, Script.KHMER):
                chains[Script(name)] = tuple(face(str(font)) for font in names)
            elif name in used:
                # A missing optional font (e.g. fonts-noto-cjk not yet installed on an upgraded
                # player) must not leave the screen dark: the script is refused, not the start.
                try:
                    chains[Script(name)] = tuple(face(str(font)) for font in names)
                except RenderError as exc:
                    unavailable[Script(name)] = str(exc)
                    log.warning("fonts for %s unavailable, its letters will be refused: %s", name, exc)
        min_cfg: Mapping[str, Any] = config.get("min_px", {})
        min_px = {
            script: int(min_cfg.get(script.value, _DEFAULT_MIN_PX.get(script, 14)))
            for script in chains
        }
        for script, value in min_px.items():
            if value < 6:
                raise RenderError(
                    f"{source}: min_px.{script.value} = {value} is not legible (< 6 px)"
                )
        return cls(chains=chains, min_px=min_px, unavailable=unavailable)


_DEFAULT_MIN_PX: dict[str, int] = {Script.LATIN: 14, Script.KHMER: 18}

# Used when the package is installed without the repo's fonts/ folder; mirrors fonts/fonts.toml.
BUILTIN_CONFIG: dict[str, Any] = {
    "defaults": {"weight": 600},
    "min_px": {"latin": 14, "khmer": 18, "han": 16, "lao": 16, "thai": 16},
    "fonts": {
        "be-vietnam-pro": {"family": "Be Vietnam Pro"},
        "noto-sans": {"family": "Noto Sans"},
        "noto-sans-khmer": {"family": "Noto Sans Khmer"},
        "noto-sans-thai": {"family": "Noto Sans Thai"},
        "noto-sans-lao": {"fontconfig": "Noto Sans Lao"},
        "noto-sans-cjk-sc": {"fontconfig": "Noto Sans CJK SC"},
    },
    "chains": {
        "latin": ["be-vietnam-pro", "noto-sans"],
        "khmer": ["noto-sans-khmer", "noto-sans"],
        "han": ["noto-sans-cjk-sc", "noto-sans"],
        "lao": ["noto-sans-lao", "noto-sans"],
        "thai": ["noto-sans-thai", "noto-sans"],
    },
}


def _locate(
    key: str, spec: Mapping[str, Any], weight: int, base_dir: Path, source: str
) -> tuple[Path, int]:
    """A font's file and face index within it."""
    if "file" in spec:
        path = Path(str(spec["file"]))
        return (path if path.is_absolute() else base_dir / path), int(spec.get("index", 0))
    if "family" in spec:
        import fontpkg  # the font packages register their families with it

        try:
            return Path(fontpkg.path(str(spec["family"]), weight, nearest=True)), 0
        except fontpkg.FontpkgError as exc:
            raise RenderError(
                f"{source}: font {key!r}: family {spec['family']!r} is not installed ({exc}); "
                'install its fontpkg-* package or set file = "..." to a font in the fonts folder'
            ) from exc
    if "fontconfig" in spec:
        return fontconfig_path(key, str(spec["fontconfig"]), weight, source)
    raise RenderError(
        f'{source}: [fonts.{key}] needs family = "...", fontconfig = "..." or file = "..."'
    )


# CSS weights (fonts.toml) to fontconfig's scale, for the families Debian packages install.
_FC_WEIGHTS = ((100, 0), (200, 40), (300, 50), (400, 80), (500, 100), (600, 180), (700, 200),
               (800, 205), (900, 210))


def fontconfig_path(key: str, family: str, weight: int, source: str) -> tuple[Path, int]:
    """A system font (Debian fonts-noto-*) by family name, refusing fontconfig's substitutes."""
    fc_weight = min(_FC_WEIGHTS, key=lambda pair: abs(pair[0] - weight))[1]
    fc_match = shutil.which("fc-match") or "/usr/bin/fc-match"
    try:
        found = subprocess.run(  # noqa: S603 - fixed argv, the family is one argument
            [fc_match, "--format=%{file}\t%{index}\t%{family}", f"{family}:weight={fc_weight}"],
            capture_output=True, text=True, check=True, timeout=20,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise RenderError(
            f"{source}: font {key!r}: cannot ask fontconfig for {family!r} ({exc}); "
            "install fontconfig (Debian: apt-get install fontconfig)"
        ) from exc
    file, _tab, rest = found.partition("\t")
    index, _tab, families = rest.partition("\t")
    if family not in (name.strip() for name in families.split(",")):
        raise RenderError(
            f"{source}: font {key!r}: family {family!r} is not installed (fontconfig offers "
            f"{families or 'nothing'} instead); install its Debian package (fonts-noto-core, "
            "fonts-noto-cjk) or set file = \"...\" to a font in the fonts folder"
        )
    return Path(file), int(index or 0)


@lru_cache(maxsize=4)
def default_registry(fonts_dir: Path | None = None) -> FontRegistry:
    """The registry of fonts/fonts.toml (or the built-in chains), loaded once per process."""
    folder = fonts_dir or DEFAULT_FONTS_DIR
    config = folder / "fonts.toml"
    if config.is_file():
        found = FontRegistry.from_toml(config)
    else:
        found = FontRegistry.from_config(
            BUILTIN_CONFIG, base_dir=folder, source="built-in font chains"
        )
    found.check_languages(str(config))
    return found
