#!/usr/bin/env bash
# The wheels gpu_run.sh installs on the GPU machine, built here into .whl/: the shared
# device-wheels.sh (fvcore, diffusers and their dependencies), then huggingface-hub held below 2,
# because that machine's transformers (which diffusers imports through peft) refuses hub 2.x.
#   bash bench/gpu_wheels.sh
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bash ../shared/tools/device-wheels.sh --diffusers
rm -f .whl/huggingface_hub-*.whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 -d .whl "huggingface-hub>=1.32,<2"
ls .whl/huggingface_hub-*.whl
