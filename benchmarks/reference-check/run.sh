#!/usr/bin/env bash
# Runs the reference check for all 12 models at one size: our side (node) then the reference side (Python).
#   benchmarks/reference-check/run.sh PYTHON REFERENCE_DIR MAMBA_SSM_DIR OUT_DIR small|paper [extra check.py args]
# small: width 64, 2 layers, 4 heads, d_state 16; paper: width 256, 8 layers, 4 heads, d_state 128.
# Writes OUT_DIR/<size>-<model>.{json,bin} (ours), OUT_DIR/<size>.jsonl and prints the table.
set -euo pipefail
if [ $# -lt 5 ]; then echo "usage: run.sh PYTHON REFERENCE_DIR MAMBA_SSM_DIR OUT_DIR small|paper [check.py args]" >&2; exit 2; fi
py=$1 ref=$2 mamba=$3 out=$4 size=$5
shift 5
case $size in
  small) dims=(--width 64 --layers 2 --heads 4 --d-state 16) ;;
  paper) dims=(--width 256 --layers 8 --heads 4 --d-state 128) ;;
  *) echo "error: size must be small or paper, got $size" >&2; exit 2 ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
models=(gla delta-net gated-delta-net gated-delta-product retnet linear-attention mesa-net mamba mamba2 transformer s4d gru)
mkdir -p "$out"
prefixes=()
for m in "${models[@]}"; do
  node "$here/our-side.mjs" --model "$m" "${dims[@]}" --out "$out/$size-$m" 2> >(grep -E "^(wrote|error)" >&2)
  prefixes+=("$out/$size-$m")
done
rm -f "$out/$size.jsonl"
cd "$here"
"$py" check.py --reference "$ref" --mamba-ssm "$mamba" --jsonl "$out/$size.jsonl" --ours "${prefixes[@]}" "$@" \
  2> >(grep -v -E "UserWarning|_cpu_device_warning" >&2)
