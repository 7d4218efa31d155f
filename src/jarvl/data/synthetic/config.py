"""The vocabulary of the synthetic world and its typed configuration.

Compositional split (after CLEVR-CoGenT, Johnson et al. 2017): under condition ``A`` squares only
take colours from the first half of the palette and triangles from the second half; condition
``B`` swaps the halves. Circles take every colour in both. Splits train/val/test use ``A`` and
``comp`` uses ``B``, so a (square or triangle, colour) pair seen in ``comp`` never occurs in
training.
"""

from __future__ import annotations

from dataclasses import dataclass

from jarvl.registry import did_you_mean

# RGB values chosen to stay distinct from one another and from the background.
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (50, 90, 230),
    "yellow": (235, 215, 40),
    "purple": (150, 60, 200),
    "cyan": (50, 210, 215),
    "orange": (245, 140, 30),
    "brown": (135, 80, 35),
}
BACKGROUND = (40, 40, 48)
SHAPES = ("circle", "square", "triangle")
SIZES = ("small", "large")
FAMILIES = ("attribute", "exists", "count", "spatial", "compare")
SPLITS = ("train", "val", "test", "comp")

_FIRST_HALF = tuple(COLORS)[:4]
_SECOND_HALF = tuple(COLORS)[4:]
# condition -> shape -> the colours that shape may take.
CONDITIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "A": {"circle": tuple(COLORS), "square": _FIRST_HALF, "triangle": _SECOND_HALF},
    "B": {"circle": tuple(COLORS), "square": _SECOND_HALF, "triangle": _FIRST_HALF},
}
SPLIT_CONDITION = {"train": "A", "val": "A", "test": "A", "comp": "B"}


def unknown_choice(kind: str, name: str, valid: tuple[str, ...] | list[str]) -> ValueError:
    """The error for a name outside ``valid``, suggesting the closest valid one."""
    return ValueError(f"unknown {kind} {name!r}{did_you_mean(name, valid, list_valid=True)}")


@dataclass(frozen=True)
class SynthConfig:
    """How hard the synthetic scenes are.

    From a dict (YAML, dotted overrides): ``jarvl.config.from_dict(SynthConfig, {...})``, which
    rejects unknown keys and wrong types.

    Attributes:
        min_objects: fewest objects in a scene (>= 1).
        max_objects: most objects in a scene; must fit in the image without overlap.
        image_size: side of the square image in pixels (images are uint8[S, S, 3]).
        families: the question families to draw from, uniformly (see ``FAMILIES``); entailment draws its
            true/false claims from the same families (``entailment.FAMILY_OF``).
    """

    min_objects: int = 3
    max_objects: int = 6
    image_size: int = 64
    families: tuple[str, ...] = FAMILIES

    def __post_init__(self) -> None:
        for name in ("min_objects", "max_objects", "image_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"SynthConfig.{name} must be an int, got {value!r}")
        if self.min_objects < 1 or self.max_objects < self.min_objects:
            raise ValueError(f"SynthConfig needs 1 <= min_objects <= max_objects, got {self.min_objects}..{self.max_objects}")
        if self.image_size < 16:
            raise ValueError(f"SynthConfig.image_size must be >= 16, got {self.image_size}")
        object.__setattr__(self, "families", tuple(self.families))
        if not self.families:
            raise ValueError("SynthConfig.families must name at least one family")
        for family in self.families:
            if family not in FAMILIES:
                raise unknown_choice("question family", family, FAMILIES)
        if self.max_objects < 2 and {"spatial", "compare"} & set(self.families):
            raise ValueError("families 'spatial' and 'compare' need max_objects >= 2")
