"""A callback that records what tests/test_configs_ddp.py checks of a config's fit: the model's
facts, the shapes of the first training batch and which networks trained. Given to `cfl fit` as
`--trainer.callbacks+=tests.config_facts.ConfigFacts --trainer.callbacks.init_args.path=FILE`;
every rank writes FILE with `.rank<r>` appended, as JSON, when the fit ends."""

import json
from pathlib import Path

import torch
from pytorch_lightning import Callback


def _networks(module) -> dict[str, torch.nn.Module]:
    networks = {"generator": module.generator}
    if module.discriminator is not None:
        networks["discriminator"] = module.discriminator
    if "critic" in module.optimizer_names():
        networks["critic"] = module.cfl
    return networks


class ConfigFacts(Callback):
    """Writes, per rank: global step, world size, input channels, label facts, the
    discriminator's input channels, first-batch tensor shapes, networks whose parameters moved."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.shapes: dict[str, list[int]] = {}
        self.before: dict[str, list[torch.Tensor]] = {}

    def on_fit_start(self, trainer, pl_module) -> None:
        self.before = {
            name: [p.detach().clone() for p in net.parameters()]
            for name, net in _networks(pl_module).items()
        }

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if not self.shapes:
            self.shapes = {k: list(v.shape) for k, v in batch.items() if torch.is_tensor(v)}

    def on_fit_end(self, trainer, pl_module) -> None:
        trained = sorted(
            name
            for name, net in _networks(pl_module).items()
            if any(
                not torch.equal(a, b.detach())
                for a, b in zip(self.before[name], net.parameters(), strict=True)
            )
        )
        discriminator = pl_module.discriminator
        facts = {
            "global_step": trainer.global_step,
            "world": trainer.world_size,
            "input_channels": pl_module.input_channels,
            "labels": [
                getattr(pl_module, "num_classes", None),
                getattr(pl_module, "dontcare_label", None),
                getattr(pl_module, "use_instances", None),
            ],
            "discriminator_input_channels": (
                None if discriminator is None else discriminator.input_channels
            ),
            "networks": sorted(_networks(pl_module)),
            "trained": trained,
            "shapes": self.shapes,
        }
        target = self.path.with_name(f"{self.path.name}.rank{trainer.global_rank}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(facts))
