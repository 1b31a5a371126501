"""Training entry point: ``python train.py CONFIG.yaml [--output-dir DIR] [--max-steps N] [--resume] [key=value ...]``.

Also runs unchanged under ``accelerate launch --num_processes 2 --cpu train.py ...``.
"""

from srunear.training import main

if __name__ == "__main__":
    raise SystemExit(main())
