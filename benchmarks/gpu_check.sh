#!/usr/bin/env bash
# GPU checks and measurements, run on a device machine from the repository root:
#   bash benchmarks/gpu_check.sh OUT_DIR [STEP ...]     (default: every step, in order)
# That machine has torch, pytorch_lightning and torchmetrics but no internet and no jsonargparse:
# the package runs from the checkout (PYTHONPATH=.), not through the `cfl` command. torchdata is
# installed from wheels in .whl/ if present (pip download torchdata==0.11.0 -d .whl).
# Each step writes its output to OUT_DIR as soon as it finishes and has its own time limit.
set -u
out=${1:-gpu_out}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 PYTHONWARNINGS=ignore
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}"

wanted=" ${*:2} "
step() {  # step NAME SECONDS COMMAND...  (skipped unless named, when steps are named)
  local name=$1 limit=$2; shift 2
  if [ "$wanted" != "  " ] && [[ "$wanted" != *" $name "* ]]; then return; fi
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

step amp_check 120 python3 benchmarks/gpu_amp_check.py
step loss_speed_128 80 python3 benchmarks/loss_speed.py --device cuda --batch 4 --size 128 \
  --repeats 30 --json "$out/loss_speed_128.json"
step train_fp32 100 python3 benchmarks/train_speed.py --device cuda --size 256 --ngf 64 \
  --batch 4 --steps 20 --warmup 5 --precision 32-true --json "$out/train_fp32.json"
step train_bf16_cl 90 python3 benchmarks/train_speed.py --device cuda --size 256 --ngf 64 \
  --batch 4 --steps 20 --warmup 5 --precision bf16-mixed --channels-last \
  --json "$out/train_bf16_cl.json"
step train_bf16_cl_compile 180 python3 benchmarks/train_speed.py --device cuda --size 256 \
  --ngf 64 --batch 4 --steps 20 --warmup 8 --precision bf16-mixed --channels-last --compile \
  --recipes vgg+gan,cfl+gan --json "$out/train_bf16_cl_compile.json"
