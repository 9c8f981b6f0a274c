"""The tiny demo model's training images, made on this machine from what apt provides.

ffmpeg's test sources (testsrc/testsrc2 at several times, SMPTE/PAL bars, colour charts, Mandelbrot views,
seeded gradients, Sierpinski fractals, cellular automata and Life in seeded colours, and blends of two of
them) plus the GNOME backgrounds (package gnome-backgrounds). Every parameter comes from one seeded
generator, so the same seed and the same ffmpeg give the same files. Every eighth image goes to val/ (used
to select the best epoch); the sample photos (test/fixtures/frames) are not used: they are held out for the
fidelity and answer-agreement figures.
"""
from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

BACKGROUNDS = Path("/usr/share/backgrounds/gnome")
SIZES = ("640x480", "480x640", "800x450", "512x512", "720x400", "400x300")


class CorpusError(RuntimeError):
    """ffmpeg is missing or failed."""


def _colour(rng: random.Random) -> str:
    return f"0x{rng.randrange(1 << 24):06x}"


def _source(rng: random.Random, kind: str, size: str) -> str:
    w, h = size.split("x")
    if kind == "mandelbrot":
        x, y = rng.choice([(-0.743643887, 0.131825904), (-0.7453, 0.1127), (-1.25066, 0.02012), (0.001643721971153, -0.822467633298876), (-0.16, 1.0405)])
        return f"mandelbrot=s={size}:start_x={x}:start_y={y}:start_scale={rng.uniform(0.002, 3.0):.5f}:maxiter={rng.choice([256, 1024])}"
    if kind == "gradients":
        n = rng.randint(2, 8)
        colours = ":".join(f"c{i}={_colour(rng)}" for i in range(n))
        return f"gradients=s={size}:n={n}:{colours}:x0={rng.randint(0, int(w))}:y0={rng.randint(0, int(h))}:x1={rng.randint(0, int(w))}:y1={rng.randint(0, int(h))}"
    if kind == "sierpinski":
        return f"sierpinski=s={size}:seed={rng.randrange(1 << 31)}:jump={rng.randint(1, 200)}:type={rng.choice(['carpet', 'triangle'])}"
    if kind == "cellauto":
        return (f"cellauto=s={int(w) // 4}x{int(h) // 4}:rule={rng.choice([18, 22, 30, 45, 60, 73, 90, 105, 110, 150])}:seed={rng.randrange(1 << 31)},"
                f"scale={size}:flags=neighbor,colorchannelmixer=rr={rng.random():.2f}:gg={rng.random():.2f}:bb={rng.random():.2f}")
    if kind == "life":
        return (f"life=s={int(w) // 4}x{int(h) // 4}:seed={rng.randrange(1 << 31)}:ratio={rng.uniform(0.1, 0.6):.2f}:mold={rng.randint(0, 50)}:"
                f"life_color={_colour(rng)}:death_color={_colour(rng)}:mold_color={_colour(rng)},scale={size}:flags=bicubic")
    if kind in ("testsrc", "testsrc2", "rgbtestsrc"):
        return f"{kind}=s={size}:d=30,trim=start={rng.uniform(0, 25):.2f},setpts=PTS-STARTPTS"
    if kind in ("smptebars", "smptehdbars", "pal75bars", "pal100bars", "colorchart", "colorspectrum"):
        return f"{kind}=s={size}" if kind not in ("colorchart",) else f"{kind},scale={size}"
    raise ValueError(kind)


KINDS = ("mandelbrot", "gradients", "sierpinski", "cellauto", "life", "testsrc", "testsrc2", "rgbtestsrc",
         "smptebars", "smptehdbars", "pal75bars", "colorchart", "colorspectrum")
#: how many of each in the corpus (weights: the rich, varied sources get more)
COUNTS = {"mandelbrot": 24, "gradients": 18, "sierpinski": 10, "cellauto": 12, "life": 16, "testsrc": 6, "testsrc2": 8,
          "rgbtestsrc": 2, "smptebars": 2, "smptehdbars": 2, "pal75bars": 2, "colorchart": 2, "colorspectrum": 2}
BLENDS = 24
BLEND_MODES = ("multiply", "screen", "overlay", "difference", "average", "softlight")


def _ffmpeg(graph: str, out: Path) -> None:
    command = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", graph, "-frames:v", "1",
               "-pix_fmt", "rgb24", str(out)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0 or not out.exists():
        raise CorpusError(f"ffmpeg failed on {graph!r}: {result.stderr.strip().splitlines()[-1] if result.stderr.strip() else result.returncode}")


def make_corpus(out: Path, seed: int):
    """Writes out/train/*.png, out/val/*.png (and copies of the backgrounds); yields progress lines."""
    if shutil.which("ffmpeg") is None:
        raise CorpusError("ffmpeg not found; install it (apt-get install ffmpeg, part of `make deps`)")
    rng = random.Random(seed)
    jobs: list[tuple[str, str]] = []
    for kind in KINDS:
        for i in range(COUNTS[kind]):
            jobs.append((f"{kind}-{i:02d}", _source(rng, kind, rng.choice(SIZES))))
    for i in range(BLENDS):
        size = rng.choice(SIZES)
        a, b = rng.sample(["mandelbrot", "gradients", "sierpinski", "life", "cellauto", "testsrc2"], 2)
        jobs.append((f"blend-{i:02d}", f"{_source(rng, a, size)},format=gbrp[a];{_source(rng, b, size)},format=gbrp[b];"
                                        f"[a][b]blend=all_mode={rng.choice(BLEND_MODES)}"))
    backgrounds = sorted(p for p in BACKGROUNDS.glob("*") if p.suffix.lower() in (".webp", ".jpg", ".png")) if BACKGROUNDS.is_dir() else []
    total = len(jobs) + len(backgrounds)
    for split in ("train", "val"):
        (out / split).mkdir(parents=True, exist_ok=True)
    for number, (name, graph) in enumerate(jobs):
        target = out / ("val" if number % 8 == 7 else "train") / f"{name}.png"
        if not target.exists():
            _ffmpeg(graph, target)
        if (number + 1) % 20 == 0:
            yield f"corpus: {number + 1}/{total} images"
    for number, path in enumerate(backgrounds, len(jobs)):
        target = out / ("val" if number % 8 == 7 else "train") / path.name
        if not target.exists():
            shutil.copyfile(path, target)
    if not backgrounds:
        yield f"corpus: {BACKGROUNDS} not found (apt-get install gnome-backgrounds); patterns only"
    yield f"corpus: {total} images in {out}/train and {out}/val"
