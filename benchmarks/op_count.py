"""Count the top-level ``aten::`` operators of one forward + backward of CFL and of the VGG loss.

    python benchmarks/op_count.py                     # 2x3x64x64, random VGG19, CPU
    python benchmarks/op_count.py --size 128 --batch 4 --list
    python benchmarks/op_count.py --critic target_views   # CFL with ContrastiveFeatureLoss(critic=)
    python benchmarks/op_count.py --critic target_views --false-negative-threshold 0.99

On a GPU every operator that computes something is at least one kernel launch, so for small
images the number of operators, not their FLOPs, sets the loss's time. Counted with
``torch.profiler`` on the CPU (the count does not depend on the device): every ``aten::`` event of
the forward and the backward whose ancestors include no other ``aten::`` event (the operators the
Python code and the autograd engine dispatch; their internal calls are not counted again). Views
(``transpose``, ``flatten``, ...) count too: they launch no kernel but cost dispatch time. The
count is taken on the fourth call, as in a training step after the first ones: caches built,
value checks (``validate_inputs="first"``) done, gradients set to None before the call as by
``optimizer.zero_grad()``. Prints both counts and their difference, also without the views
(operators that return an alias of an input: no kernel on a GPU, see :func:`returns_alias`);
``--list`` also prints the operators of each.
"""

from __future__ import annotations

import argparse
import collections
import functools

import torch
from torch.profiler import ProfilerActivity, profile


def top_level_ops(step) -> list[str]:
    """Names of the top-level ``aten::`` operators that ``step()`` dispatches, in order; a
    ``to``, ``reshape`` or ``contiguous`` that copied its input is named ``"aten::to (copy)"``
    etc."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    names = []
    for event in sorted(prof.events(), key=lambda e: e.time_range.start):
        if not event.name.startswith("aten::"):
            continue
        parent = event.cpu_parent
        while parent is not None and not parent.name.startswith("aten::"):
            parent = parent.cpu_parent
        if parent is None:
            copies = event.name in ALIASING_COPIES and _copies(event)
            names.append(f"{event.name} (copy)" if copies else event.name)
    return names


# Operators that return an alias of their input unless they must copy (a dtype change, a layout
# that cannot be viewed): the profiler shows the copy as a nested event.
ALIASING_COPIES = ("aten::to", "aten::reshape", "aten::contiguous")


def _copies(event) -> bool:
    """Whether a nested call of ``event`` copies data."""
    return any(
        child.name in ("aten::_to_copy", "aten::clone", "aten::copy_") or _copies(child)
        for child in event.cpu_children
    )


@functools.cache
def returns_alias(name: str) -> bool:
    """Whether the ``aten::`` operator ``name`` returns a view of an input (its schema marks every
    output as an alias, none written: ``view``, ``slice``, ``transpose``, ``detach``, ``unbind``,
    ... and ``reshape``/``to``, which copy only when they must): such an operator launches no
    kernel on a GPU, it costs dispatch time only. Judged from the operator's main overload
    (``default``, else ``Tensor``, ``int``, ``dtype`` or ``using_ints``); False for names torch does
    not know, such as ``"aten::to (copy)"`` (a call that copied, see :func:`top_level_ops`)."""
    packet = getattr(torch.ops.aten, name.removeprefix("aten::"), None)
    if packet is None:  # including the names top_level_ops gives copies
        return False
    for overload in ("default", "Tensor", "int", "dtype", "using_ints"):
        if overload in packet.overloads():
            returns = getattr(packet, overload)._schema.returns
            return bool(returns) and all(
                r.alias_info is not None and not r.alias_info.is_write for r in returns
            )
    return False


def make_step(loss: torch.nn.Module, batch: int, size: int):
    """One forward + backward of ``loss`` on a trainable prediction and a fixed target."""
    g = torch.Generator().manual_seed(0)
    target = torch.rand(batch, 3, size, size, generator=g) * 2 - 1
    pred = torch.nn.Parameter(torch.rand(batch, 3, size, size, generator=g) * 2 - 1)

    params = [pred, *loss.parameters()]

    def step() -> None:
        for p in params:
            p.grad = None  # as after optimizer.zero_grad(): no gradient accumulation
        loss(pred, target).backward()

    return step


def count_ops(
    batch: int = 2,
    size: int = 64,
    critic: str = "joint",
    false_negative_threshold: float | None = None,
    query_negatives: bool | str = True,
) -> dict[str, list[str]]:
    """The top-level operators of one steady-state forward + backward of each loss (CFL with
    ``ContrastiveFeatureLoss(critic, false_negative_threshold, query_negatives)``)."""
    from cfl_lightning.losses import ContrastiveFeatureLoss, PerceptualLoss

    torch.manual_seed(0)
    losses = {
        "vgg": PerceptualLoss(weights="random"),
        "cfl": ContrastiveFeatureLoss(
            weights="random",
            critic=critic,
            false_negative_threshold=false_negative_threshold,
            query_negatives=query_negatives,
        ),
    }
    ops = {}
    for name, loss in losses.items():
        step = make_step(loss, batch, size)
        for _ in range(3):  # the first calls check values and build caches
            step()
        ops[name] = top_level_ops(step)
    return ops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--list", action="store_true", help="print each loss's operator counts")
    parser.add_argument("--critic", default="joint", help="CFL's critic: joint or target_views")
    parser.add_argument(
        "--false-negative-threshold", type=float, default=None, help="CFL's option of that name"
    )
    parser.add_argument(
        "--query-negatives",
        default="true",
        choices=["true", "false", "above_target"],
        help="CFL's option of that name",
    )
    args = parser.parse_args()

    query_negatives = {"true": True, "false": False}.get(args.query_negatives, args.query_negatives)
    ops = count_ops(
        args.batch, args.size, args.critic, args.false_negative_threshold, query_negatives
    )
    counts = {name: len(names) for name, names in ops.items()}
    if args.list:
        for name, names in ops.items():
            print(f"{name}: {len(names)} top-level aten operators")
            for op, n in collections.Counter(names).most_common():
                print(f"  {n:4d}  {op}")
    print(
        f"batch={args.batch} size={args.size} critic={args.critic} "
        f"false_negative_threshold={args.false_negative_threshold} "
        f"query_negatives={args.query_negatives} torch={torch.__version__}"
    )
    views = {name: sum(map(returns_alias, names)) for name, names in ops.items()}
    for name, label in (("vgg", "VGG loss:"), ("cfl", "CFL:     ")):
        print(
            f"{label} {counts[name]} top-level aten operators (forward + backward), "
            f"{views[name]} of them views, {counts[name] - views[name]} others"
        )
    kernels = (counts["cfl"] - views["cfl"]) - (counts["vgg"] - views["vgg"])
    print(f"CFL - VGG: {counts['cfl'] - counts['vgg']} ({kernels} not counting views)")


if __name__ == "__main__":
    main()
