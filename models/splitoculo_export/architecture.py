"""Architecture descriptions: what a checkpoint's `args` or a preset says.

Every field the networks need is explicit. A checkpoint whose `args` lack one
is refused with the field's name: the seed fell back to different defaults in
different scripts, so guessing would silently build the wrong network.
"""
from __future__ import annotations

from dataclasses import dataclass, asdict
from typing import Any, Mapping

BOTTLENECK_METHODS = ("linear", "mlp", "autoencoder")
PROJECTOR_TYPES = ("strided", "pooling")
INITIAL_UPSAMPLES = ("pixelshuffle", "bilinear")

# timm mobilenetv2 stages after the stem: (block type, repeats, out channels, first stride).
MOBILENETV2_STAGES = (
    ("ds", 1, 16, 1),
    ("ir", 2, 24, 2),
    ("ir", 3, 32, 2),
    ("ir", 4, 64, 2),
    ("ir", 3, 96, 1),
    ("ir", 3, 160, 2),
    ("ir", 1, 320, 1),
)
MOBILENETV2_STEM = 32
# Width multipliers by timm model name; "tiny" is this project's test stand-in.
STUDENT_WIDTHS = {"mobilenetv2_100": 1.0, "mobilenetv2_050": 0.5, "mobilenetv2_035": 0.35, "tiny": 0.25}


class ArchitectureError(ValueError):
    """A checkpoint or preset does not describe a network this exporter can build."""


def make_divisible(value: float, divisor: int = 8) -> int:
    """timm's channel rounding: nearest multiple of `divisor`, never below 90% of value."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


@dataclass(frozen=True)
class EdgeArch:
    student_model: str
    projector_type: str
    projector_hidden: int
    token_width: int          # the seed's target_hidden_size: width of the projected tokens
    bottleneck_method: str
    bottleneck_dim: int
    tokens: int = 49
    image_size: int = 224

    def stem_channels(self) -> int:
        return make_divisible(MOBILENETV2_STEM * STUDENT_WIDTHS[self.student_model])

    def stages(self) -> list[tuple[str, int, int, int]]:
        width = STUDENT_WIDTHS[self.student_model]
        return [(kind, n, make_divisible(c * width), s) for kind, n, c, s in MOBILENETV2_STAGES]

    def feature_channels(self) -> int:
        """Channels of blocks.4, the stride-16 feature the projector reads."""
        return self.stages()[4][2]

    def validate(self) -> None:
        _one_of("student_model", self.student_model, tuple(STUDENT_WIDTHS))
        _one_of("projector_type", self.projector_type, PROJECTOR_TYPES)
        _one_of("bottleneck_method", self.bottleneck_method, BOTTLENECK_METHODS)
        if self.tokens != 49:
            raise ArchitectureError(f"transmission_tokens: expected 49 (7x7 grid), got {self.tokens}")
        if self.image_size != 224:
            raise ArchitectureError(f"image_size: expected 224, got {self.image_size}")
        for name in ("projector_hidden", "token_width", "bottleneck_dim"):
            _positive(name, getattr(self, name))


@dataclass(frozen=True)
class CloudArch:
    token_width: int          # target_hidden_size: the vision hidden size of the target layer
    bottleneck_method: str
    bottleneck_dim: int
    initial_upsample: str
    transformer_layers: int
    heads: int
    tokens: int = 49
    target_tokens: int = 256

    def ffn_width(self) -> int:
        return 2 * self.token_width

    def validate(self) -> None:
        _one_of("bottleneck_method", self.bottleneck_method, BOTTLENECK_METHODS)
        _one_of("initial_upsample", self.initial_upsample, INITIAL_UPSAMPLES)
        if self.tokens != 49:
            raise ArchitectureError(f"transmission_tokens: expected 49, got {self.tokens}")
        if self.target_tokens != 256:
            raise ArchitectureError(f"target_tokens: expected 256 (16x16 grid), got {self.target_tokens}")
        for name in ("token_width", "bottleneck_dim", "transformer_layers", "heads"):
            _positive(name, getattr(self, name))
        if self.token_width % self.heads:
            raise ArchitectureError(f"target_hidden_size {self.token_width} is not divisible by {self.heads} heads")


PRESETS: dict[str, tuple[EdgeArch, CloudArch]] = {
    # The published SplitOculo configuration (seed-facts.md): about 11 MB edge, 500 MB cloud.
    "full": (
        EdgeArch("mobilenetv2_100", "strided", 512, 1280, "linear", 64),
        CloudArch(1280, "linear", 64, "pixelshuffle", 4, 16),
    ),
    # Same graph structure, narrow widths; keeps the 49x64 wire contract.
    "tiny": (
        EdgeArch("tiny", "strided", 32, 64, "linear", 64),
        CloudArch(64, "linear", 64, "pixelshuffle", 4, 4),
    ),
}


def _one_of(field: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ArchitectureError(f"{field}: expected one of {', '.join(allowed)}, got {value!r}")


def _positive(field: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ArchitectureError(f"{field}: expected a positive integer, got {value!r}")


def _require(args: Mapping[str, Any], field: str, source: str) -> Any:
    if field not in args or args[field] is None:
        raise ArchitectureError(
            f"{source}: args has no '{field}'; the exporter refuses to guess it "
            f"(fields present: {', '.join(sorted(args)) or 'none'})"
        )
    return args[field]


def edge_arch_from_args(args: Mapping[str, Any], source: str) -> EdgeArch:
    arch = EdgeArch(
        student_model=_require(args, "student_model", source),
        projector_type=_require(args, "projector_type", source),
        projector_hidden=_require(args, "projector_hidden", source),
        token_width=_require(args, "target_hidden_size", source),
        bottleneck_method=_require(args, "bottleneck_method", source),
        bottleneck_dim=_require(args, "bottleneck_dim", source),
        tokens=_require(args, "transmission_tokens", source),
        image_size=_require(args, "image_size", source),
    )
    arch.validate()
    return arch


def cloud_arch_from_args(args: Mapping[str, Any], source: str) -> CloudArch:
    upsampler = _require(args, "upsampler_type", source)
    if upsampler != "transformer":
        raise ArchitectureError(f"{source}: upsampler_type: expected 'transformer', got {upsampler!r}")
    width = _require(args, "target_hidden_size", source)
    arch = CloudArch(
        token_width=width,
        bottleneck_method=_require(args, "bottleneck_method", source),
        bottleneck_dim=_require(args, "bottleneck_dim", source),
        initial_upsample=_require(args, "initial_upsample", source),
        transformer_layers=_require(args, "transformer_layers", source),
        # The seed fixes 16 heads; narrower test widths keep a head width of at least 4.
        heads=args.get("transformer_heads", 16),
        tokens=_require(args, "transmission_tokens", source),
        target_tokens=_require(args, "target_tokens", source),
    )
    arch.validate()
    return arch


def edge_args(arch: EdgeArch) -> dict[str, Any]:
    """The seed's `args` fields for an edge architecture (used to write checkpoints)."""
    return {
        "student_model": arch.student_model,
        "student_layer": 3,
        "projector_type": arch.projector_type,
        "projector_hidden": arch.projector_hidden,
        "transmission_tokens": arch.tokens,
        "target_hidden_size": arch.token_width,
        "bottleneck_dim": arch.bottleneck_dim,
        "bottleneck_method": arch.bottleneck_method,
        "image_size": arch.image_size,
    }


def cloud_args(arch: CloudArch) -> dict[str, Any]:
    return {
        "upsampler_type": "transformer",
        "transformer_layers": arch.transformer_layers,
        "initial_upsample": arch.initial_upsample,
        "transmission_tokens": arch.tokens,
        "target_tokens": arch.target_tokens,
        "target_hidden_size": arch.token_width,
        "bottleneck_dim": arch.bottleneck_dim,
        "bottleneck_method": arch.bottleneck_method,
        "image_size": 224,
        **({"transformer_heads": arch.heads} if arch.heads != 16 else {}),
    }


def describe(arch: EdgeArch | CloudArch) -> dict[str, Any]:
    return asdict(arch)
