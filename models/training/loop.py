"""The training loop: warmup and GAN phases of the seed's recipe, validation, best/latest, resume.

Every epoch ends with a validation pass (mean token cosine to the teacher, also after the uint8 round
trip the board applies) and writes latest.pt; best.pt is kept when the selected metric improves. With
`--save-every N` latest.pt is also written every N steps. A run started again with `--resume` on the
same --out continues from latest.pt at the step it was saved at: the batch order is drawn from
(seed, epoch), so the resumed run sees the batches the uninterrupted one would have.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from splitoculo_export.architecture import PRESETS
from splitoculo_export.checkpoints import random_networks
from splitoculo_export.architecture import cloud_args, edge_args

from . import losses, quant
from .checkpoints import load_training, networks_from, save_training
from .dataset import FeatureFolder
from .discriminator import FeatureDiscriminator
from .pixels import student_input


@dataclass
class TrainConfig:
    features: Path
    val_features: Path
    out: Path
    phase: str = "warmup"               # warmup | gan
    preset: str = "full"
    bottleneck_dim: int | None = None   # default: the preset's
    bottleneck_method: str | None = None
    init: Path | None = None            # GAN phase: the warmup's best.pt
    epochs: int = 20
    batch: int = 32
    lr: float | None = None             # default 1e-4 (warmup), 4e-5 (GAN)
    weight_decay: float = 0.01
    quant_noise: str = "none"           # none | ste | uniform
    seed: int = 0
    device: str = "cpu"
    resume: bool = False
    save_every: int = 0
    log_every: int = 10
    max_steps: int = 0                  # stop after this many steps in all (tests, smoke runs); 0: no limit

    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else (1e-4 if self.phase == "warmup" else 4e-5)


BETAS = (0.5, 0.9)


def _architecture(config: TrainConfig, hidden: int):
    edge_arch, cloud_arch = PRESETS[config.preset]
    changes = {k: v for k, v in (("bottleneck_dim", config.bottleneck_dim), ("bottleneck_method", config.bottleneck_method)) if v is not None}
    edge_arch, cloud_arch = replace(edge_arch, **changes), replace(cloud_arch, **changes)
    if cloud_arch.token_width != hidden:
        raise ValueError(f"--preset {config.preset}: predicts features of width {cloud_arch.token_width}, the teacher's are {hidden} "
                         f"(the tiny preset fits the tiny Qwen stand-in, full fits Qwen2.5-VL-3B)")
    return edge_arch, cloud_arch


def _forward(edge, cloud, crops: torch.Tensor, mode: str, device: str):
    x = student_input(crops).to(device)
    projected = edge.projector(edge.student(x))
    tokens = quant.simulate(edge.bottleneck(projected), mode)
    recon = cloud.bottleneck(tokens)
    return cloud.upsampler(recon), recon, projected


@torch.no_grad()
def validate(edge, cloud, data: FeatureFolder, config: TrainConfig) -> dict[str, float]:
    """Mean token cosine to the teacher with float tokens and after the uint8 round trip, and the MSE."""
    edge.eval(), cloud.eval()
    cos, cos_q, mse, n = 0.0, 0.0, 0.0, 0
    for crops, teacher in data.batches(config.batch, config.seed, 0, shuffle=False, drop_last=False):
        teacher = teacher.to(config.device)
        tokens = edge(student_input(crops).to(config.device))
        out = cloud(tokens)
        out_q = cloud(quant.round_trip(tokens))
        cos += float(losses.token_cosine(out, teacher).sum())
        cos_q += float(losses.token_cosine(out_q, teacher).sum())
        mse += float(((out - teacher) ** 2).mean(dim=(1, 2)).sum())
        n += len(crops)
    edge.train(), cloud.train()
    return {"val_cosine": cos / n, "val_cosine_quantised": cos_q / n, "val_mse": mse / n}


def train(config: TrainConfig, log=print) -> dict:
    torch.manual_seed(config.seed)
    data, val = FeatureFolder(config.features), FeatureFolder(config.val_features)
    if data.split_layer != val.split_layer:
        raise ValueError(f"{config.features} is at split layer {data.split_layer}, {config.val_features} at {val.split_layer}")
    config.out.mkdir(parents=True, exist_ok=True)
    latest, best_path = config.out / "latest.pt", config.out / "best.pt"
    resumed = load_training(latest) if config.resume and latest.exists() else None
    if resumed is not None:
        edge, cloud = networks_from(resumed, str(latest))
    elif config.init is not None:
        edge, cloud = networks_from(load_training(config.init), str(config.init))
    else:
        edge, cloud = random_networks(*_architecture(config, data.hidden), config.seed)
    if cloud.arch.token_width != data.hidden:
        raise ValueError(f"networks predict width {cloud.arch.token_width}, the teacher features are {data.hidden}")
    edge.to(config.device).train(), cloud.to(config.device).train()
    generator_params = list(edge.parameters()) + list(cloud.parameters())
    lr = config.learning_rate()
    optimisers = {"generator": torch.optim.AdamW(generator_params, lr=lr, betas=BETAS, weight_decay=config.weight_decay)}
    discriminator = None
    if config.phase == "gan":
        discriminator = FeatureDiscriminator(data.hidden).to(config.device)
        optimisers["discriminator"] = torch.optim.AdamW(discriminator.parameters(), lr=lr, betas=BETAS, weight_decay=config.weight_decay)
    schedulers = {name: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=config.epochs) for name, opt in optimisers.items()}
    steps_per_epoch = data.steps_per_epoch(config.batch)
    if steps_per_epoch == 0:
        raise ValueError(f"{config.features}: {len(data)} rows, fewer than one batch of {config.batch}")
    # The architecture fields last: the networks, not the command line (None = "the preset's"), say what they are.
    args = {**{k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()},
            **edge_args(edge.arch), **cloud_args(cloud.arch), "split_layer": data.split_layer}
    step, start_epoch, history, best = 0, 0, [], -math.inf
    if resumed is not None:
        for name, opt in optimisers.items():
            opt.load_state_dict(resumed["optimizer_states"][name])
        for name, sched in schedulers.items():
            sched.load_state_dict(resumed["scheduler_states"][name])
        if discriminator is not None:
            discriminator.load_state_dict(resumed["discriminator_state_dict"])
        step, history = resumed["step"], resumed["metrics"].get("history", [])
        best = resumed["metrics"].get("best", -math.inf)
        start_epoch = step // steps_per_epoch
        torch.set_rng_state(resumed["rng_state"])
        log(f"train: resumed from {latest} at step {step} (epoch {start_epoch + 1})")
    select = "val_cosine_quantised" if config.quant_noise != "none" else "val_cosine"

    def save(path: Path, epoch: int) -> None:
        save_training(path, edge=edge, cloud=cloud, args=args, epoch=epoch, step=step, optimisers=optimisers,
                      schedulers=schedulers, metrics={"history": history, "best": best, "select": select},
                      discriminator=discriminator)

    started, stop, trained = time.monotonic(), False, []
    for epoch in range(start_epoch, config.epochs):
        skip = step - epoch * steps_per_epoch  # batches of this epoch a resumed run has already trained on
        for number, (crops, teacher) in enumerate(data.batches(config.batch, config.seed, epoch, shuffle=True, drop_last=True)):
            if number < skip:
                continue
            teacher = teacher.to(config.device)
            out, recon, projected = _forward(edge, cloud, crops, config.quant_noise, config.device)
            if discriminator is not None:
                d_loss = losses.discriminator_loss(discriminator(teacher), discriminator(out.detach()))
                optimisers["discriminator"].zero_grad()
                d_loss.backward()
                optimisers["discriminator"].step()
                parts = losses.generator_loss(out, teacher, recon, projected, discriminator(out))
                parts["d_loss"] = d_loss
            else:
                parts = losses.warmup_loss(out, teacher, recon, projected)
            optimisers["generator"].zero_grad()
            parts["loss"].backward()
            optimisers["generator"].step()
            step += 1
            trained.append({"step": step, **{k: float(v) for k, v in parts.items()}})
            if config.log_every and step % config.log_every == 0:
                rate = (step - (resumed["step"] if resumed else 0)) / max(time.monotonic() - started, 1e-9)
                log(f"train {config.phase}: epoch {epoch + 1}/{config.epochs} step {step} "
                    + " ".join(f"{k} {float(v):.5f}" for k, v in parts.items()) + f" ({rate:.2f} steps/s)")
            if config.save_every and step % config.save_every == 0:
                save(latest, epoch)
            if config.max_steps and step >= config.max_steps:
                stop = True
                break
        if stop and step % steps_per_epoch:
            save(latest, epoch)  # mid-epoch stop: resumable from this step
            break
        for sched in schedulers.values():
            sched.step()
        metrics = {"epoch": epoch + 1, "step": step, "lr": optimisers["generator"].param_groups[0]["lr"], **validate(edge, cloud, val, config)}
        history.append(metrics)
        improved = metrics[select] > best
        best = max(best, metrics[select])
        save(latest, epoch + 1)
        if improved:
            save(best_path, epoch + 1)
        with (config.out / "metrics.jsonl").open("a") as handle:
            handle.write(json.dumps(metrics) + "\n")
        log(f"train {config.phase}: epoch {epoch + 1}/{config.epochs} validation: cosine {metrics['val_cosine']:.4f}, "
            f"after uint8 {metrics['val_cosine_quantised']:.4f}, mse {metrics['val_mse']:.5f}{' (best)' if improved else ''}")
        if stop:
            break
    return {"step": step, "history": history, "best": best, "select": select, "steps": trained}
