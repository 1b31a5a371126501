"""Batch tagging: ``python tag.py MODEL_DIR INPUT... --output OUT [--format pubtator|jsonl] [--batch-size N]``.

Resumable (run it again to continue), and sharded across processes under
``accelerate launch tag.py ...``. See ``srunear/tagging.py`` for formats and options.
"""

from srunear.tagging import main

if __name__ == "__main__":
    raise SystemExit(main())
