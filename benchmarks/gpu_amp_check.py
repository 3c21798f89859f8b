"""GPU check of mixed precision training (run by benchmarks/gpu_check.sh, not by the tests).

Trains the tiny CFL + GAN module of the tests for a few iterations on CUDA with ``16-mixed``
(gradient scaler) and ``bf16-mixed``, with and without a compiled generator, and checks: losses
finite, generator / critic / discriminator weights changed, extractor unchanged, and with
``16-mixed`` exactly one ``GradScaler.update()`` per iteration (three optimizers stepped).
Prints one JSON line per case.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytorch_lightning as pl
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.modules.tiny import RandomPairsDataModule, make_module


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def changed(before: dict[str, torch.Tensor], module: torch.nn.Module) -> bool:
    after = module.state_dict()
    return any(not torch.equal(before[k], after[k]) for k in before)


def run(precision: str, compile_generator: bool, accelerator: str = "gpu", steps: int = 4) -> dict:
    pl.seed_everything(0)
    module = make_module(
        {"cfl": 1.0, "gan": 1.0, "feature_matching": 10.0}, compile_generator=compile_generator
    )
    parts = {n: snapshot(getattr(module, n)) for n in ("generator", "discriminator")}
    heads, extractor = snapshot(module.cfl.heads), snapshot(module.cfl.extractor)
    trainer = pl.Trainer(
        accelerator=accelerator,
        devices=1,
        precision=precision,
        max_steps=steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
    )
    scaler = getattr(trainer.precision_plugin, "scaler", None)
    updates = {"n": 0}
    if scaler is not None:
        original = scaler.update

        def counted(*args, **kwargs):
            updates["n"] += 1
            return original(*args, **kwargs)

        scaler.update = counted
    trainer.fit(module, RandomPairsDataModule(size=16, image_size=32, batch_size=4))
    logged = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("train/")}
    result = {
        "precision": precision,
        "compile": compile_generator,
        "global_step": trainer.global_step,
        "scaler_updates": updates["n"] if scaler is not None else None,
        "finite": all(torch.isfinite(torch.tensor(v)) for v in logged.values()),
        "generator_changed": changed(parts["generator"], module.generator),
        "discriminator_changed": changed(parts["discriminator"], module.discriminator),
        "critic_changed": changed(heads, module.cfl.heads),
        "extractor_unchanged": not changed(extractor, module.cfl.extractor),
        "losses": logged,
    }
    result["ok"] = bool(
        result["finite"]
        and result["generator_changed"]
        and result["discriminator_changed"]
        and result["critic_changed"]
        and result["extractor_unchanged"]
        and result["global_step"] == steps
        and (scaler is None or updates["n"] == steps)
    )
    return result


def main() -> None:
    if "--cpu-dry-run" in sys.argv:  # exercise this script here, without a GPU
        print(json.dumps(run("bf16-mixed", False, accelerator="cpu")))
        return
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device")
    results = []
    for precision, compile_generator in (
        ("16-mixed", False),
        ("bf16-mixed", False),
        ("32-true", False),
        ("bf16-mixed", True),
    ):
        result = run(precision, compile_generator)
        results.append(result)
        print(json.dumps(result), flush=True)
    if not all(r["ok"] for r in results):
        raise SystemExit("a mixed-precision check failed")


if __name__ == "__main__":
    main()
