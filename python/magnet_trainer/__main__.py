import json
import os

from .cli import main

# A rank of `train --devices N` (parallel.py) gets its command line from the launcher through the environment:
# torchrun's own parser would read options after the module name too (--node as an abbreviation of --node-rank).
argv = json.loads(os.environ["MAGNET_TRAINER_ARGV"]) if os.environ.get("MAGNET_TRAINER_RANK") == "1" else None
raise SystemExit(main(argv))
