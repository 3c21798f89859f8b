import pytorch_lightning as pl
from pytorch_lightning.accelerators import CPUAccelerator

from tests.modules.tiny import RandomPairsDataModule


class GPULike:
    """Stands for a GPU accelerator: any that is not the CPU's."""


def attached(data: RandomPairsDataModule, accelerator: str = "cpu") -> RandomPairsDataModule:
    data.trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False)
    if accelerator != "cpu":
        data.trainer.strategy.accelerator = GPULike()
    assert isinstance(data.trainer.accelerator, (CPUAccelerator, GPULike))
    return data


def test_pin_memory_is_dropped_under_a_cpu_trainer_only():
    # standalone: as asked (PyTorch itself decides what pinning does)
    assert RandomPairsDataModule(pin_memory=True).val_dataloader().pin_memory
    on_cpu = attached(RandomPairsDataModule(pin_memory=True), "cpu")
    assert not on_cpu.train_dataloader().pin_memory
    assert not on_cpu.val_dataloader().pin_memory
    on_gpu = attached(RandomPairsDataModule(pin_memory=True), "gpu")
    assert on_gpu.train_dataloader().pin_memory and on_gpu.val_dataloader().pin_memory
    never = attached(RandomPairsDataModule(pin_memory=False), "gpu")
    assert not never.train_dataloader().pin_memory
