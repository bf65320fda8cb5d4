#!/usr/bin/env bash
# GPU figures in one run, for a machine with an NVIDIA GPU (written for an H100, sm_90):
#   1. llama.cpp with CUDA for one architecture (libraries + llama-bench only), then a4ps's
#      libraries and the benches against it, with ccache;
#   2. bench_persona_switch (4 personas on one 0.5B base) with the layers on the GPU;
#   3. decode and prefill of `a4ps model generate` against llama-bench, same model, same GPU;
#   4. LoRA training tokens/s on the GPU and on the CPU, under an 8 GB VRAM budget (the seed's card).
#
#   bench/gpu.sh [OUT_DIR]      (default: build-gpu; figures also in OUT_DIR/gpu-figures.txt)
#
# Needs: the Debian packages of scripts/setup.sh, nvcc (CUDA toolkit), the llama.cpp source
# tree ($A4PS_LLAMA_SOURCE, else the one scripts/setup.sh unpacked). Nothing is downloaded.
# Knobs: A4PS_CUDA_ARCH (90), JOBS (all cores), SIZE (0.5b or 1.5b synthetic base), BUDGET (8G).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "${1:-$root/build-gpu}" && cd "${1:-$root/build-gpu}" && pwd)
arch=${A4PS_CUDA_ARCH:-90} jobs=${JOBS:-$(nproc)} size=${SIZE:-0.5b} budget=${BUDGET:-8G}
src=${A4PS_LLAMA_SOURCE:-$(cat "${A4PS_CACHE:-$HOME/.cache/a4ps}/llama-source" 2>/dev/null || true)}
[ -f "$src/CMakeLists.txt" ] || { echo "gpu.sh: no llama.cpp source; set A4PS_LLAMA_SOURCE or run scripts/setup.sh" >&2; exit 1; }
nvcc=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
[ -x "$nvcc" ] || { echo "gpu.sh: nvcc not found; install the CUDA toolkit" >&2; exit 1; }
nvidia-smi -L >&2 || { echo "gpu.sh: no NVIDIA GPU visible (nvidia-smi -L failed)" >&2; exit 1; }
export CCACHE_DIR=${CCACHE_DIR:-$out/ccache}
figs=$out/gpu-figures.txt
say() { printf '%s\n' "$*" | tee -a "$figs"; }
: >"$figs"
t0=$(date +%s)

# ---- 1. build -----------------------------------------------------------------------
llama=$out/llama install=$out/llama-install
if [ ! -f "$install/.a4ps-ok" ]; then
  cmake -S "$src" -B "$llama" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$install" \
    -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache \
    -DBUILD_SHARED_LIBS=OFF -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DGGML_NATIVE=ON \
    -DGGML_CUDA=ON -DCMAKE_CUDA_COMPILER="$nvcc" -DCMAKE_CUDA_ARCHITECTURES="$arch" -DGGML_CUDA_NCCL=OFF \
    -DLLAMA_BUILD_COMMON=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF >"$out/llama-configure.log"
  cmake --build "$llama" -j"$jobs" --target llama llama-common llama-bench >"$out/llama-build.log"
  cmake --install "$llama" >/dev/null
  cp "$llama/common/libllama-common-base.a" "$install/lib/" 2>/dev/null || true
  touch "$install/.a4ps-ok"
fi
a4ps=$out/a4ps
cmake -S "$root" -B "$a4ps" -G Ninja -DCMAKE_BUILD_TYPE=Release -DA4PS_BUILD_TESTS=OFF \
  -DA4PS_LLAMA=source -DA4PS_LLAMA_PREFIX="$install" -DA4PS_LLAMA_SOURCE="$src" >"$out/a4ps-configure.log"
cmake --build "$a4ps" -j"$jobs" --target a4ps a4ps-synth-gguf bench_persona_switch bench_train >"$out/a4ps-build.log"
say "gpu.sh: built in $(( $(date +%s) - t0 )) s (llama.cpp CUDA sm_$arch + a4ps benches, $jobs jobs)"
"$a4ps/a4ps" doctor | sed -n '/compute devices/,$p' | tee -a "$figs"

# ---- 2. persona switching on the GPU ----------------------------------------------
models=$out/models
mkdir -p "$models"
say "" "== bench_persona_switch (A4PS_VRAM_BUDGET=$budget)"
A4PS_VRAM_BUDGET=$budget "$a4ps/bench/bench_persona_switch" --models "$models" 2>/dev/null | tee -a "$figs"

# ---- 3. decode / prefill: a4ps against llama-bench ----------------------------------
base=$models/synthetic-qwen2-$size-q8_0.gguf
[ -f "$base" ] || "$a4ps/a4ps-synth-gguf" --arch qwen2 --size "$size" --type q8_0 -o "$base" >/dev/null
say "" "== decode and prefill, $(basename "$base")"
"$a4ps/a4ps" doctor --model "$base" | tail -n 1 | tee -a "$figs"
prompt=$(printf 'word %.0s' $(seq 1 500))
A4PS_VRAM_BUDGET=$budget "$a4ps/a4ps" --json model generate "$base" -p "$prompt" -n 128 --ctx 1024 |
  python3 -c 'import json,sys; r=json.load(sys.stdin); print("a4ps model generate: prefill %d tokens %.1f tok/s, decode %.1f tok/s" % (r["prompt_tokens"], r["prompt_tokens"]/r["prefill_ms"]*1000, r["tokens_per_s"]))' |
  tee -a "$figs"
"$llama/bin/llama-bench" -m "$base" -ngl 99 -p 512 -n 128 -r 3 2>/dev/null | tee -a "$figs"

# ---- 4. training: GPU against CPU ------------------------------------------------
for dev in gpu cpu; do
  say "" "== bench_train on the $dev (A4PS_VRAM_BUDGET=$budget, A4PS_TRAIN_DEVICE=$dev)"
  A4PS_VRAM_BUDGET=$budget A4PS_TRAIN_DEVICE=$dev "$a4ps/bench/bench_train" --size "$size" --type f32 --examples 4 \
    --ctx 256 --work "$out/train-$dev" 2>&1 | grep -E "train:|a4ps LoRA" | tee -a "$figs"
done
say "" "gpu.sh: done in $(( $(date +%s) - t0 )) s; figures in $figs"
