"""Write any model the app offers as a standard Hugging Face folder, so that a teacher can use the same
weights in a notebook:

    python -m model.export NAME DIR      e.g.  python -m model.export multilingual-e5-small ~/e5

DIR receives config.json, model.safetensors and tokenizer.json (plus a tokenizer_config.json naming the
fast tokenizer class), which `transformers.AutoModel.from_pretrained(DIR)` and
`AutoTokenizer.from_pretrained(DIR)` load. The weights are the app's own, dequantized to float32 where the
package ships them quantized, so the notebook and the app compute the same attention.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from safetensors.torch import save_file
from tokenizers import Tokenizer

from model.errors import AttentionLabError
from model.registry import LoadedModel, load_named, model_names


def export(loaded: LoadedModel, folder: str | Path) -> Path:
    """Write `loaded` into `folder` (created if needed) as config.json, model.safetensors and tokenizer.json."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    tensors = {name: t.detach().to("cpu").contiguous() for name, t in loaded.hf_state_dict().items()}
    save_file(tensors, out / "model.safetensors", metadata={"format": "pt"})
    (out / "config.json").write_text(json.dumps(loaded.hf_config, indent=2, ensure_ascii=False), encoding="utf-8")
    tokenizer = Tokenizer.from_str(loaded.tokenizer.to_str())  # a copy without the app's 512-token cut
    tokenizer.no_truncation()
    tokenizer.save(str(out / "tokenizer.json"))
    tokenizer_config = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": loaded.config.max_positions}
    (out / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2), encoding="utf-8")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model.export", description=__doc__.split("\n\n")[0])
    parser.add_argument("name", help="a model the app offers: " + ", ".join(model_names()))
    parser.add_argument("folder", help="where to write the Hugging Face folder")
    args = parser.parse_args(argv)
    try:
        out = export(load_named(args.name, device="cpu"), args.folder)
    except AttentionLabError as err:
        print(err, file=sys.stderr)
        return 2
    print(f"wrote {args.name} to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
