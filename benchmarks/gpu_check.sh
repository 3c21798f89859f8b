#!/usr/bin/env bash
# GPU checks and measurements, run on a device machine from the repository root:
#   bash benchmarks/gpu_check.sh OUT_DIR [STEP ...]     (default: the steps of $DEFAULT_STEPS)
# That machine has torch, pytorch_lightning and torchmetrics but no internet and no jsonargparse:
# the package runs from the checkout (PYTHONPATH=.), not through the `cfl` command. torchdata is
# installed from wheels in .whl/ if present (pip download torchdata==0.11.0 -d .whl).
# Each step writes its output to OUT_DIR as soon as it finishes and has its own time limit. The
# default steps take about 9 minutes of an H100/H200, half of it compiling; under a 10-minute
# limit per command run them as two calls:
#   bash benchmarks/gpu_check.sh OUT sync_check loss_128 loss_256 train_bf16 summary
#   bash benchmarks/gpu_check.sh OUT train_bf16_compile summary
#
# Issue 12 targets (CFL against the VGG loss): loss-only time at most 1.3x at 4x3x128x128 and
# 1.05x at 4x3x256x256; SPADE + GAN training step at 256x256 in bf16 at most 1.05x, eager and
# compiled; peak memory at most 1.05x; no host-device sync in the loss after its first 2 calls.
# `summary` prints every ratio with its 95% bootstrap interval against these targets.
set -u
out=${1:-gpu_out}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 PYTHONWARNINGS=ignore
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}"
export OUT="$out"

DEFAULT_STEPS="sync_check loss_128 loss_256 train_bf16 train_bf16_compile summary"
wanted=" ${*:2} "
if [ "$wanted" = "  " ]; then wanted=" $DEFAULT_STEPS "; fi
step() {  # step NAME SECONDS COMMAND...  (run only when named, or in the default list)
  local name=$1 limit=$2; shift 2
  if [[ "$wanted" != *" $name "* ]]; then return; fi
  local start=$SECONDS
  timeout "$limit" "$@" >"$out/$name.txt" 2>"$out/$name.err"
  echo "$name: exit $? after $((SECONDS - start)) s" | tee -a "$out/steps.txt"
}

{
  date -u +%Y-%m-%dT%H:%MZ
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python3 -c "import torch, pytorch_lightning as pl, torchmetrics as tm; \
print('torch', torch.__version__, 'lightning', pl.__version__, 'torchmetrics', tm.__version__)"
} >"$out/device.txt" 2>&1

# Host-device syncs (torch.cuda.set_sync_debug_mode): the losses after their first 2 calls (must
# be 0), the label one-hot encoding, and a whole training step of the LightningModule (counted
# inside training_step only; the place of each sync is printed).
step sync_check 150 python3 - <<'PY'
import collections, traceback, warnings
import torch

from cfl_lightning.losses import ContrastiveFeatureLoss, PerceptualLoss
from cfl_lightning.modules import one_hot_labels

dev = torch.device("cuda")


def count_syncs(fn, steps):
    """Syncs during ``steps`` calls of ``fn`` and where they happened (innermost project frame)."""
    places = collections.Counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            for _ in range(steps):
                fn()
            torch.cuda.set_sync_debug_mode(0)
            torch.cuda.synchronize()
        finally:
            torch.cuda.set_sync_debug_mode(0)
    syncs = [w for w in caught if "synchroniz" in str(w.message)]
    for w in syncs:
        places[f"{w.filename}:{w.lineno}"] += 1
    return len(syncs), places


torch.manual_seed(0)
pred = (torch.rand(4, 3, 128, 128, device=dev) * 2 - 1).requires_grad_()
target = torch.rand(4, 3, 128, 128, device=dev) * 2 - 1
device_generator = torch.Generator(device=dev).manual_seed(0)
for name, loss in (
    ("perceptual", PerceptualLoss(weights="random").to(dev)),
    ("cfl", ContrastiveFeatureLoss(weights="random").to(dev)),
):
    def step(loss=loss, name=name):
        kwargs = {"generator": device_generator.manual_seed(1)} if name == "cfl" else {}
        loss(pred, target, **kwargs).backward()

    first, _ = count_syncs(step, 2)
    later, places = count_syncs(step, 5)
    print(f"{name}: {first} syncs in calls 1-2 (value checks), {later} in calls 3-7 {dict(places)}")
    if name == "cfl":
        later, places = count_syncs(lambda: loss(pred, target).backward(), 3)
        print(f"cfl, global RNG: {later} syncs in 3 calls {dict(places)}")

labels = torch.randint(0, 35, (4, 128, 128), device=dev)
for _ in range(2):
    one_hot_labels(labels, 35)
later, places = count_syncs(lambda: one_hot_labels(labels, 35), 3)
print(f"one_hot_labels: {later} syncs in calls 3-5 {dict(places)}")

# One SPADE + GAN + CFL training step at a time through Lightning; syncs counted inside
# training_step from the 3rd step on.
import pytorch_lightning as pl
from torch.utils.data import DataLoader, Dataset

from cfl_lightning.modules import SemanticSynthesisModule
from cfl_lightning.networks import MultiscaleDiscriminator, SPADEGenerator


class Labels(Dataset):
    def __len__(self):
        return 64

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(i)
        label = torch.randint(0, 35, (8, 8), generator=g).repeat_interleave(16, 0)
        label = label.repeat_interleave(16, 1)
        instance = torch.randint(0, 4, (4, 4), generator=g).repeat_interleave(32, 0)
        instance = instance.repeat_interleave(32, 1)
        return {"label": label, "instance": instance, "image": torch.rand(3, 128, 128) * 2 - 1}


module = SemanticSynthesisModule(
    SPADEGenerator(36, 32, norm="batch"),
    num_classes=35,
    use_instance=True,
    losses={"cfl": 1.6, "gan": 1.0, "feature_matching": 10.0},
    discriminator=MultiscaleDiscriminator(36 + 3, ndf=32),
    metrics=(),
    cfl=ContrastiveFeatureLoss(weights="random"),
)
counts, where, original = [], collections.Counter(), module.training_step


def counted_step(*args, **kwargs):
    if len(counts) < 2:  # the first steps check values
        counts.append(None)
        return original(*args, **kwargs)
    result = []
    n, places = count_syncs(lambda: result.append(original(*args, **kwargs)), 1)
    counts.append(n)
    where.update(places)
    return result[0]


module.training_step = counted_step
trainer = pl.Trainer(
    accelerator="gpu", devices=1, precision="bf16-mixed", max_steps=8, logger=False,
    enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
    limit_val_batches=0, num_sanity_val_steps=0,
)
trainer.fit(module, DataLoader(Labels(), batch_size=4))
print(f"training_step syncs per step (steps 3+): {counts[2:]}")
for place, n in where.most_common(12):
    print(f"  {n:3d}  {place}")
PY

# Loss only: one forward + backward, CFL and the VGG loss interleaved, 100 timed repetitions.
step loss_128 120 python3 benchmarks/loss_speed.py --device cuda --batch 4 --size 128 \
  --losses perceptual,cfl,cfl_random_weights --repeats 100 --warmup 10 --json "$out/loss_128.json"
step loss_256 150 python3 benchmarks/loss_speed.py --device cuda --batch 4 --size 256 \
  --losses perceptual,cfl,cfl_random_weights --repeats 100 --warmup 10 --json "$out/loss_256.json"
step loss_128_compile 240 python3 benchmarks/loss_speed.py --device cuda --batch 4 --size 128 \
  --losses perceptual,cfl,cfl_random_weights --repeats 100 --warmup 10 --compile --json "$out/loss_128_compile.json"

# SPADE + GAN training step at 256x256, bf16, 100 timed iterations per recipe.
step train_bf16 260 python3 benchmarks/train_speed.py --device cuda --size 256 --ngf 64 \
  --batch 4 --steps 100 --warmup 10 --precision bf16-mixed --channels-last \
  --recipes vgg+gan,cfl+gan,cfl_random_weights+gan --json "$out/train_bf16.json"
step train_bf16_compile 330 python3 benchmarks/train_speed.py --device cuda --size 256 \
  --ngf 64 --batch 4 --steps 100 --warmup 12 --precision bf16-mixed --channels-last --compile \
  --compile-losses --recipes vgg+gan,cfl+gan --json "$out/train_bf16_compile.json"

# Earlier checks, run only when named.
step amp_check 120 python3 benchmarks/gpu_amp_check.py
step train_fp32 200 python3 benchmarks/train_speed.py --device cuda --size 256 --ngf 64 \
  --batch 4 --steps 100 --warmup 10 --precision 32-true --recipes vgg+gan,cfl+gan \
  --json "$out/train_fp32.json"

# Ratios CFL / VGG with 95% bootstrap intervals, against the targets.
step summary 60 python3 - <<'PY'
import json, os, sys

sys.path.insert(0, "benchmarks")
from loss_speed import median_ratio_interval

out = os.environ["OUT"]
rows = [
    ("loss_128", "loss 4x3x128x128 fp32", 1.30, True),
    ("loss_256", "loss 4x3x256x256 fp32", 1.05, True),
    ("loss_128_compile", "loss 4x3x128x128 fp32, compiled", 1.30, True),
    ("train_bf16", "SPADE+GAN step 256 bf16", 1.05, False),
    ("train_bf16_compile", "SPADE+GAN step 256 bf16, compiled", 1.05, False),
    ("train_fp32", "SPADE+GAN step 256 fp32", 1.05, False),
]
print(f"{'measurement':<36}{'CFL ms':>9}{'VGG ms':>9}{'time x':>8}{'95% interval':>18}"
      f"{'target':>8}{'met':>5}{'mem x':>7}{'met':>5}")
for name, title, target, loss_only in rows:
    path = os.path.join(out, name + ".json")
    if not os.path.exists(path):
        continue
    results = json.load(open(path))["results"]
    # Loss rows: the paper's CFL, then the random-weights recipe (views of the target) if timed.
    pairs = [(title, results["cfl"], results["perceptual"])] if loss_only else [
        (title, results["cfl+gan"], results["vgg+gan"])]
    recipe = "cfl_random_weights" if loss_only else "cfl_random_weights+gan"
    if recipe in results:
        pairs.append(("  random-weights recipe", results[recipe], pairs[0][2]))
    for label, cfl, vgg in pairs:
        ratio, low, high = median_ratio_interval(
            cfl["times_ms"], vgg["times_ms"], paired=loss_only)
        memory = cfl["peak_mib"] / vgg["peak_mib"]
        met = "yes" if high <= target else ("no" if low > target else "?")
        print(f"{label:<36}{cfl['median_ms']:>9.2f}{vgg['median_ms']:>9.2f}{ratio:>8.3f}"
              f"{f'[{low:.3f}, {high:.3f}]':>18}{target:>8.2f}{met:>5}{memory:>7.3f}"
              f"{'yes' if memory <= 1.05 else 'no':>5}")
print("met: yes = whole interval within the target, no = whole interval above it, ? = neither")
PY
