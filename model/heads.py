"""python -m model.heads: the head atlas's statistics of one model over a corpus (model/experiments/atlas.py).

    python -m model.heads --model all-MiniLM-L6-v2 --text-file assets/corpus/en.txt

One sentence per line; the last line of stdout is one JSON object, the file the Atlas view ships
(assets/heads/MODEL.CORPUS.json).
"""

import sys

from model.experiments.atlas import main

if __name__ == "__main__":
    sys.exit(main())
