#!/usr/bin/env bash
# The paper's scale on a GPU, in one command: sets up the CUDA build of JAX (the `cuda` extra of
# pyproject.toml), runs `fpjax run NAME --full` for every experiment into results-full/ (the CNN
# experiments only when CIFAR-10, CIFAR-100 and Tiny ImageNet are in $FPJAX_DATA or --data; a line
# says which files a skipped one needs), then `fpjax ledger --import results-full --scale full`,
# which fills the "full" column of docs/ledger.md. Resumable: an experiment that already finished
# with the full settings is skipped, so after an interruption run the same command again.
#
# Usage: bash benchmarks/gpu-ledger.sh [--data DIR] [--results DIR] [NAME ...]   # GPU machine, repository root
#        bash benchmarks/gpu-ledger.sh --dry-run [--results DIR] [NAME ...]
#            CPU, no installs: the same code paths with shrunk counts (steps, epochs, seeds, training
#            points, widths) and tiny stand-in files in the official CIFAR / Tiny ImageNet formats;
#            results and ledger in a temporary folder (docs/ledger.md and ledger/ are not touched).
# Details: benchmarks/full_scale.py.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ " $* " == *" --dry-run "* ]]; then
  export FPJAX_NO_HOST_DEVICES="${FPJAX_NO_HOST_DEVICES:-1}"
  exec uv run --frozen python benchmarks/full_scale.py "$@"
fi
uv sync --frozen --extra cuda                      # jax[cuda12] wheels
uv run --frozen --extra cuda python -c "import jax; assert jax.default_backend() == 'gpu', jax.devices(); print(jax.devices())"
exec uv run --frozen --extra cuda python benchmarks/full_scale.py "$@"
