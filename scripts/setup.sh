#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian 12 machine: Debian packages, then llama.cpp
# from the pinned npm package node-llama-cpp (built once per machine, cached).
#
#   scripts/setup.sh            # packages + llama.cpp (default: build from source)
#   A4PS_LLAMA=prebuilt ...     # use @node-llama-cpp/linux-x64's prebuilt CPU libraries
#   A4PS_LLAMA=system ...       # skip: CMake finds an installed llama.cpp (find_package)
#   A4PS_GPU=cuda ...           # llama.cpp with its CUDA backend (needs nvcc: your CUDA toolkit)
#   A4PS_GPU=vulkan ...         # llama.cpp with its Vulkan backend (installs libvulkan-dev, glslc;
#                               # with A4PS_LLAMA=prebuilt: node-llama-cpp's Vulkan build, libvulkan1)
#                               # A4PS_CUDA_ARCH=89 (etc.) picks the CUDA architecture; default: this machine's GPU
#
# Everything fetched or built lives under $A4PS_CACHE (default ~/.cache/a4ps).
set -euo pipefail

NLC_VERSION=3.22.1   # node-llama-cpp; its bundle is llama.cpp release v0.5.0 of that package
NLC_SHA256=a0d9dd80eacd2ab1cfe71aee57ac8a806487fd70b3d2a38fbec637752d9e5c5f
NLC_LINUX_SHA256=0d953e1503d5ab4608d8ed5b739132308c81ac05ffeb760d2a7f30e08a9f90e0
NLC_LINUX_VULKAN_SHA256=e10577190fc4bd1649d3b655588e5c7a85fc6b6dbf7136fee596cbe9e25521e7

A4PS_LLAMA=${A4PS_LLAMA:-source}
A4PS_GPU=${A4PS_GPU:-cpu}
CACHE=${A4PS_CACHE:-$HOME/.cache/a4ps}
LLAMA_DIR=$CACHE/llama.cpp-$NLC_VERSION

say() { printf '\033[1msetup:\033[0m %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

# ---- Debian packages -------------------------------------------------------
PKGS=(build-essential cmake ninja-build ccache pkg-config git ca-certificates
      libsqlite3-dev sqlite3 nlohmann-json3-dev libcli11-dev libfmt-dev libdtl-dev
      libarchive-dev libssl-dev libcpp-httplib-dev libtomlplusplus-dev clang-14 libclang-rt-14-dev libgtest-dev libgmock-dev libbenchmark-dev libhnswlib-dev libedit-dev libseccomp-dev
      python3 runsc bubblewrap
      chromium)  # the console's browser test (tests/console: playwright-core drives it)
command -v npm >/dev/null 2>&1 || PKGS+=(nodejs npm)
case "$A4PS_GPU" in
  cpu|"") A4PS_GPU=cpu ;;
  cuda)
    [ "$A4PS_LLAMA" = source ] || die "A4PS_GPU=cuda needs A4PS_LLAMA=source (it builds against your CUDA toolkit)"
    NVCC=$(command -v nvcc || echo "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc")
    [ -x "$NVCC" ] || die "A4PS_GPU=cuda needs the CUDA toolkit (nvcc not on PATH nor in \$CUDA_HOME/bin); install it from NVIDIA, or use A4PS_GPU=vulkan"
    ;;
  vulkan)
    case "$A4PS_LLAMA" in
      source) PKGS+=(libvulkan-dev glslc spirv-headers mesa-vulkan-drivers) ;;
      prebuilt) PKGS+=(libvulkan1 mesa-vulkan-drivers) ;;
      *) die "A4PS_GPU=vulkan needs A4PS_LLAMA=source or prebuilt" ;;
    esac ;;
  *) die "A4PS_GPU must be cpu, cuda or vulkan (got '$A4PS_GPU')" ;;
esac

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  say "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# ---- llama.cpp -------------------------------------------------------------
fetch_npm() {  # fetch_npm <spec> <file> <sha256> -> verified tarball in $CACHE/npm
  local spec=$1 file=$2 sum=$3
  mkdir -p "$CACHE/npm"
  if [ ! -f "$CACHE/npm/$file" ]; then
    say "fetching $spec from the npm registry"
    (cd "$CACHE/npm" && npm pack --silent "$spec" >/dev/null) || die "npm pack $spec failed; is the npm registry reachable?"
  fi
  echo "$sum  $CACHE/npm/$file" | sha256sum -c --quiet - \
    || { rm -f "$CACHE/npm/$file"; die "checksum mismatch for $file (removed; run again)"; }
}

llama_source() {  # the llama.cpp source tree from node-llama-cpp's git bundle
  fetch_npm "node-llama-cpp@$NLC_VERSION" "node-llama-cpp-$NLC_VERSION.tgz" "$NLC_SHA256"
  if [ ! -f "$LLAMA_DIR/src/.a4ps-ok" ]; then
    say "unpacking llama.cpp source from node-llama-cpp $NLC_VERSION"
    rm -rf "$LLAMA_DIR/src" "$LLAMA_DIR/npm"
    mkdir -p "$LLAMA_DIR/npm"
    tar -xzf "$CACHE/npm/node-llama-cpp-$NLC_VERSION.tgz" -C "$LLAMA_DIR/npm" package/llama/gitRelease.bundle
    git clone -q "$LLAMA_DIR/npm/package/llama/gitRelease.bundle" "$LLAMA_DIR/src" 2>/dev/null
    rm -rf "$LLAMA_DIR/npm"
    touch "$LLAMA_DIR/src/.a4ps-ok"
  fi
}

case "$A4PS_LLAMA" in
  source)
    llama_source
    # One build and install folder per backend, each with its own stamp, so switching
    # backends never mixes objects; the CPU build keeps the folders it always had.
    sfx=; [ "$A4PS_GPU" = cpu ] || sfx=-$A4PS_GPU
    BUILD=$LLAMA_DIR/build$sfx INSTALL=$LLAMA_DIR/install$sfx
    gpu_flags=()
    case "$A4PS_GPU" in
      cuda)
        arch=${A4PS_CUDA_ARCH:-}
        if [ -z "$arch" ]; then
          nvidia-smi -L >/dev/null 2>&1 || [ -f "$INSTALL/.a4ps-ok-2" ] ||
            die "no NVIDIA GPU visible to pick the CUDA architecture from; set A4PS_CUDA_ARCH (86: RTX 30xx, 89: RTX 40xx, 90: H100)"
          arch=native
        fi
        gpu_flags=(-DGGML_CUDA=ON -DCMAKE_CUDA_COMPILER="$NVCC" -DCMAKE_CUDA_ARCHITECTURES="$arch"
                   -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache -DGGML_CUDA_NCCL=OFF) ;;  # one GPU: no NCCL
      vulkan) gpu_flags=(-DGGML_VULKAN=ON)
        # This llama.cpp's shaders need a glslc that knows cooperative matrices; Debian 12's does not.
        [ -f "$INSTALL/.a4ps-ok-2" ] || printf '#version 450\n#extension GL_KHR_cooperative_matrix : require\nvoid main() {}\n' >"$CACHE/coopmat-probe.comp"
        [ -f "$INSTALL/.a4ps-ok-2" ] || glslc -fshader-stage=compute --target-env=vulkan1.3 -o /dev/null "$CACHE/coopmat-probe.comp" >/dev/null 2>&1 ||
          die "this glslc ($(command -v glslc)) is too old for llama.cpp's Vulkan shaders (no GL_KHR_cooperative_matrix); put a newer one (LunarG Vulkan SDK) first on PATH, or use A4PS_LLAMA=prebuilt A4PS_GPU=vulkan (node-llama-cpp's Vulkan build)" ;;
    esac
    # The stamp names the build's shape: change it when the options below change.
    STAMP="$INSTALL/.a4ps-ok-2"
    if [ ! -f "$STAMP" ]; then
      say "building llama.cpp ($A4PS_GPU) and llama-server (first time on this machine: several minutes, much longer with a GPU backend; cached afterwards)"
      export CCACHE_DIR=${CCACHE_DIR:-$CACHE/ccache}
      cmake -S "$LLAMA_DIR/src" -B "$BUILD" -G Ninja \
        -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$INSTALL" \
        -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
        -DBUILD_SHARED_LIBS=OFF -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DGGML_NATIVE=ON \
        -DLLAMA_BUILD_COMMON=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON \
        -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF \
        -DLLAMA_TOOLS_INSTALL=OFF -DLLAMA_TESTS_INSTALL=OFF \
        -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF "${gpu_flags[@]}" >"$BUILD.configure.log" 2>&1 \
        || die "llama.cpp configure failed; see $BUILD.configure.log"
      # The libraries, plus llama-server (the OpenAI-compatible peer the tests talk to).
      cmake --build "$BUILD" -j"${A4PS_JOBS:-$(nproc)}" --target llama llama-common llama-server >"$BUILD.log" 2>&1 \
        || die "llama.cpp build failed; see $BUILD.log"
      cmake --install "$BUILD" >"$BUILD.install.log" 2>&1 || die "llama.cpp install failed; see $BUILD.install.log"
      mkdir -p "$INSTALL/bin"
      cp "$BUILD/bin/llama-server" "$INSTALL/bin/"
      [ -f "$INSTALL/lib/cmake/llama/llama-config.cmake" ] || die "llama.cpp install failed"
      touch "$STAMP"
    fi
    # llama-common needs its build-info library, which llama.cpp's install leaves out.
    [ -f "$INSTALL/lib/libllama-common-base.a" ] ||
      cp "$BUILD/common/libllama-common-base.a" "$INSTALL/lib/" ||
      die "libllama-common-base.a missing from the llama.cpp build; remove $BUILD and run again"
    # CMake reads this when a build folder is configured: a fresh folder (or
    # -DA4PS_LLAMA_PREFIX=...) picks up the backend built last.
    echo "$INSTALL" > "$CACHE/llama-prefix-source"
    ;;
  prebuilt)
    llama_source   # headers and vocab files come from the same source tree
    pkg=linux-x64 sum=$NLC_LINUX_SHA256
    [ "$A4PS_GPU" = vulkan ] && pkg=linux-x64-vulkan sum=$NLC_LINUX_VULKAN_SHA256
    fetch_npm "@node-llama-cpp/$pkg@$NLC_VERSION" "node-llama-cpp-$pkg-$NLC_VERSION.tgz" "$sum"
    PRE=$LLAMA_DIR/prebuilt; [ "$A4PS_GPU" = cpu ] || PRE=$LLAMA_DIR/prebuilt-$A4PS_GPU
    if [ ! -f "$PRE/.a4ps-ok" ]; then
      rm -rf "$PRE"; mkdir -p "$PRE"
      tar -xzf "$CACHE/npm/node-llama-cpp-$pkg-$NLC_VERSION.tgz" -C "$PRE" --strip-components=3 "package/bins/$pkg"
      touch "$PRE/.a4ps-ok"
    fi
    echo "$PRE" > "$CACHE/llama-prefix-prebuilt"
    ;;
  system) llama_source; say "using a system llama.cpp (CMake find_package(llama)); source kept only for its vocab files" ;;
  *) die "A4PS_LLAMA must be source, prebuilt or system (got '$A4PS_LLAMA')" ;;
esac
echo "$LLAMA_DIR/src" > "$CACHE/llama-source"

# ---- client libraries the end-to-end tests use ------------------------------
# tests/clients: the openai npm package; tests/mcp-client: the official MCP TypeScript SDK.
# tests/console: playwright-core, which drives Debian's chromium (it downloads no browser).
# Each pinned by its package-lock.json and installed only when node_modules is missing or
# the lockfile changed since the last install.
ROOT=$(cd "$(dirname "$0")/.." && pwd)
for CLIENTS in "$ROOT/tests/clients" "$ROOT/tests/mcp-client" "$ROOT/tests/console"; do
  LOCK_SUM=$(sha256sum "$CLIENTS/package-lock.json" | cut -d' ' -f1)
  if [ "$(cat "$CLIENTS/node_modules/.a4ps-lock" 2>/dev/null)" != "$LOCK_SUM" ]; then
    say "installing the test clients (npm ci in ${CLIENTS#"$ROOT"/})"
    (cd "$CLIENTS" && npm ci --silent --no-audit --no-fund >/dev/null) || die "npm ci in $CLIENTS failed; is the npm registry reachable?"
    echo "$LOCK_SUM" > "$CLIENTS/node_modules/.a4ps-lock"
  fi
done
say "ready (llama.cpp: $A4PS_LLAMA, backend: $A4PS_GPU)"
