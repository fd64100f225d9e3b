#!/usr/bin/env bash
# GPU benchmarks in one script (< 8 minutes on one modern NVIDIA GPU): sets up the CUDA build of JAX
# (the `cuda` extra of pyproject.toml), runs the seed sweep (>= 1024 seeds), the empirical NTK
# (N >= 4096) and the Hessian benchmarks at GPU scale, and a ResNet-18 training step (images/s)
# against PyTorch when a CUDA build of torch installs; writes benchmarks/RESULTS-gpu.md.
#
# Usage: bash benchmarks/gpu.sh            # on the GPU machine, from the repository root
#        bash benchmarks/gpu.sh --dry-run  # CPU, tiny sizes, no installs: checks the script's parts run
set -euo pipefail
cd "$(dirname "$0")/.."
DRY=0
[[ "${1:-}" == "--dry-run" ]] && DRY=1
OUT=benchmarks/RESULTS-gpu.md
[[ $DRY == 1 ]] && OUT=$(mktemp /tmp/RESULTS-gpu.XXXX.md)
START=$(date +%s)

if [[ $DRY == 1 ]]; then
  RUN=(uv run --frozen python)
  SEEDS=8; STEPS=20; NTK_N=64; RES_BATCH=2; RES_STEPS=2
  export FPJAX_NO_HOST_DEVICES=1
else
  uv sync --frozen --extra cuda                      # jax[cuda12] wheels
  RUN=(uv run --frozen --extra cuda python)
  SEEDS=1024; STEPS=2000; NTK_N=4096; RES_BATCH=256; RES_STEPS=20
  "${RUN[@]}" -c "import jax; assert jax.default_backend() == 'gpu', jax.devices(); print(jax.devices())"
fi

{
  echo "# GPU benchmarks"
  echo
  echo "Written by \`benchmarks/gpu.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC')."
  echo
  echo '```'
  "${RUN[@]}" -c "import jax, platform; print('jax', jax.__version__, jax.devices(), 'python', platform.python_version())"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
  echo '```'
} > "$OUT"

section() { echo -e "\n## $1\n\n\`\`\`" >> "$OUT"; }
endsec() { echo '```' >> "$OUT"; }

# 1. seed sweep: fpjax sweep(fit) vs plain jit(vmap(scan)), whole machine (the GPU); no CPU pinning
section "Seed sweep ($SEEDS seeds x $STEPS Adam steps, fp-1d network)"
"${RUN[@]}" - "$SEEDS" "$STEPS" >> "$OUT" 2>&1 <<'EOF' || echo "sweep benchmark failed" >> "$OUT"
import sys, time
sys.path.insert(0, "benchmarks")
import jax, numpy as np
import sweep as B
from fpjax.train import sweep
seeds, steps = int(sys.argv[1]), int(sys.argv[2])
keys = jax.random.split(jax.random.key(0), seeds)
fn = B._fpjax_fn(steps)
t = time.perf_counter(); r = sweep(fn, keys); first = time.perf_counter() - t
f = jax.jit(jax.vmap(fn)).lower(keys).compile()
np.asarray(f(keys)); t = time.perf_counter(); np.asarray(f(keys)); fp = time.perf_counter() - t
g = B._plain_fn(steps).lower(keys).compile()
np.asarray(g(keys)); t = time.perf_counter(); np.asarray(g(keys)); pl = time.perf_counter() - t
print(f"fpjax sweep call (incl. compile) {first:.2f} s; steady jit(vmap(fit)) {fp:.3f} s; plain {pl:.3f} s; "
      f"ratio {fp / pl:.3f}; {B.flops_per_step() * seeds * steps / fp / 1e12:.2f} TFLOP/s")
EOF
endsec

# 2. empirical NTK at N >= 4096 and 3. Hessian benchmarks, at their GPU-scale options when they have them
section "Empirical NTK (N = $NTK_N)"
"${RUN[@]}" benchmarks/ntk.py --help 2>/dev/null | grep -q -- "--n" \
  && timeout 120 "${RUN[@]}" benchmarks/ntk.py --n "$NTK_N" --repeats 3 >> "$OUT" 2>&1 \
  || timeout 120 "${RUN[@]}" - "$NTK_N" >> "$OUT" 2>&1 <<'EOF' || echo "ntk benchmark failed" >> "$OUT"
import sys, time
import jax, jax.numpy as jnp, numpy as np
from fpjax.models import mlp
from fpjax.ntk import empirical_ntk
n = int(sys.argv[1])
m = mlp((512, 512, 1), "relu", init="standard")
x = jax.random.normal(jax.random.key(0), (n, 8))
p = m.init(jax.random.key(1), x)
k = empirical_ntk(m, p, x); np.asarray(k)
t = time.perf_counter(); np.asarray(empirical_ntk(m, p, x)); dt = time.perf_counter() - t
print(f"fpjax empirical_ntk, ReLU 8-512-512-1, N={n}: {dt * 1e3:.1f} ms, kernel {k.shape}")
EOF
endsec

section "Hessian"
if [[ $DRY == 1 ]]; then echo "skipped in --dry-run" >> "$OUT"
else timeout 150 "${RUN[@]}" benchmarks/hessian.py --nets 64x5,1024x4 --threads 1 --repeats 3 >> "$OUT" 2>&1 || echo "hessian benchmark failed or timed out" >> "$OUT"; fi
endsec

# 4. ResNet-18 training step, images/s, fpjax vs PyTorch (CUDA torch in its own venv, if it installs)
section "ResNet-18 training step (batch $RES_BATCH, 32x32x3, SGD momentum)"
"${RUN[@]}" - "$RES_BATCH" "$RES_STEPS" >> "$OUT" 2>&1 <<'EOF' || echo "fpjax resnet18 step failed" >> "$OUT"
import sys, time
import jax, jax.numpy as jnp, numpy as np, optax
from fpjax.cnn import get_model
from fpjax.train import ce
b, steps = int(sys.argv[1]), int(sys.argv[2])
m = get_model("resnet18", 10)
x = jax.random.normal(jax.random.key(0), (b, 32, 32, 3)); y = jnp.arange(b) % 10
v = m.init(jax.random.key(1), x)
tx = optax.sgd(0.1, momentum=0.9)
def step(params, bs, st):
    def loss(p):
        lg, nbs = m.apply({"params": p, "batch_stats": bs}, x, train=True)
        return ce(lg, y), nbs
    (l, nbs), g = jax.value_and_grad(loss, has_aux=True)(params)
    u, st = tx.update(g, st, params)
    return optax.apply_updates(params, u), nbs, st, l
step = jax.jit(step, donate_argnums=(0, 1, 2))
p, bs, st = v["params"], v["batch_stats"], tx.init(v["params"])
p, bs, st, l = step(p, bs, st); l.block_until_ready()
t = time.perf_counter()
for _ in range(steps): p, bs, st, l = step(p, bs, st)
l.block_until_ready(); dt = (time.perf_counter() - t) / steps
print(f"fpjax resnet18: {b / dt:.0f} images/s ({dt * 1e3:.1f} ms/step)")
EOF
if [[ $DRY == 0 ]]; then
  if [[ ! -x benchmarks/.torch-cuda-venv/bin/python ]]; then
    timeout 150 bash -c "python3 -m venv benchmarks/.torch-cuda-venv && benchmarks/.torch-cuda-venv/bin/pip install -q torch torchvision" \
      || echo "no CUDA torch installed: PyTorch side skipped" >> "$OUT"
  fi
  if [[ -x benchmarks/.torch-cuda-venv/bin/python ]]; then
    timeout 90 benchmarks/.torch-cuda-venv/bin/python - "$RES_BATCH" "$RES_STEPS" >> "$OUT" 2>&1 <<'EOF' || echo "torch resnet18 step failed" >> "$OUT"
import sys, time, torch, torchvision
b, steps = int(sys.argv[1]), int(sys.argv[2])
assert torch.cuda.is_available()
net = torchvision.models.resnet18(num_classes=10).cuda()
net.conv1 = torch.nn.Conv2d(3, 64, 3, 1, 1, bias=False).cuda(); net.maxpool = torch.nn.Identity()  # CIFAR stem
opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
x = torch.randn(b, 3, 32, 32, device="cuda"); y = torch.arange(b, device="cuda") % 10
def step():
    opt.zero_grad(set_to_none=True); l = torch.nn.functional.cross_entropy(net(x), y); l.backward(); opt.step()
step(); torch.cuda.synchronize(); t = time.perf_counter()
for _ in range(steps): step()
torch.cuda.synchronize(); dt = (time.perf_counter() - t) / steps
print(f"torch resnet18: {b / dt:.0f} images/s ({dt * 1e3:.1f} ms/step)")
EOF
  fi
fi
endsec

echo -e "\nTotal time: $(( $(date +%s) - START )) s" >> "$OUT"
echo "wrote $OUT"
[[ $DRY == 1 ]] && cat "$OUT"
exit 0
