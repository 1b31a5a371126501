"""Shards of a tag.py run: each process tags every K-th document into its own part file, merged at the end."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from srunear.files import atomic_write
from srunear.tag_inputs import TaggingError
from srunear.tag_records import read_records

__all__ = ["merge_parts", "part_path", "resolve_shards", "share_cores"]


def part_path(output: str | Path, shard_index: int, num_shards: int) -> Path:
    """The file shard ``shard_index`` of ``num_shards`` writes: ``OUT.partI-of-K``."""
    output = Path(output)
    return output.with_name(f"{output.name}.part{shard_index}-of-{num_shards}")


def share_cores(count: int, device: Any) -> None:
    """Shards on one machine's CPU split its cores: K processes each using every core would
    oversubscribe it K times (unless the user chose with OMP_NUM_THREADS)."""
    import torch

    if count <= 1 or getattr(device, "type", "cpu") != "cpu" or "OMP_NUM_THREADS" in os.environ:
        return
    local = int(os.environ.get("LOCAL_WORLD_SIZE", count))
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // max(local, 1)))


def resolve_shards(num_shards: int | None, shard_index: int | None) -> tuple[int, int, Any]:
    """(index, count, accelerate state or None); explicit values win over accelerate's."""
    if (num_shards is None) != (shard_index is None):
        raise TaggingError("give both --num-shards and --shard-index, or neither")
    if num_shards is not None:
        if num_shards < 1 or not 0 <= shard_index < num_shards:
            raise TaggingError(f"need num_shards >= 1 and 0 <= shard_index < num_shards, got {shard_index} of {num_shards}")
        return shard_index, num_shards, None
    try:
        from accelerate import PartialState
        from accelerate.utils import parse_flag_from_env
    except ImportError:
        return 0, 1, None
    import torch

    # PartialState only joins CPU processes into one group when told to (accelerate --cpu does so).
    state = PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU") or not torch.cuda.is_available())
    if state.num_processes <= 1:
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            raise TaggingError(
                "started as one of several processes but accelerate sees only one; "
                "give --num-shards and --shard-index so that they do not all write the same output"
            )
        return 0, 1, None
    return state.process_index, state.num_processes, state


def merge_parts(output: str | Path, ids: Sequence[str], num_shards: int, output_format: str) -> bool:
    """Write ``output`` from its part files in the order of ``ids`` once every part is complete.

    Returns False (and writes nothing) while some document is still missing. The merged file
    is written beside ``output`` and renamed over it, so it is never seen half-written.
    """
    output = Path(output)
    records: dict[str, bytes] = {}
    for index in range(num_shards):
        records.update(read_records(part_path(output, index, num_shards), output_format)[0])
    if any(identifier not in records for identifier in ids):
        return False
    atomic_write(output, (records[identifier] for identifier in ids))  # streamed, not joined in memory
    return True
