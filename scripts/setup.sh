#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian 12 machine: Debian packages, then llama.cpp
# from the pinned npm package node-llama-cpp (built once per machine, cached).
#
#   scripts/setup.sh            # packages + llama.cpp (default: build from source)
#   A4PS_LLAMA=prebuilt ...     # use @node-llama-cpp/linux-x64's prebuilt CPU libraries
#   A4PS_LLAMA=system ...       # skip: CMake finds an installed llama.cpp (find_package)
#
# Everything fetched or built lives under $A4PS_CACHE (default ~/.cache/a4ps).
set -euo pipefail

NLC_VERSION=3.22.1   # node-llama-cpp; its bundle is llama.cpp release v0.5.0 of that package
NLC_SHA256=a0d9dd80eacd2ab1cfe71aee57ac8a806487fd70b3d2a38fbec637752d9e5c5f
NLC_LINUX_SHA256=0d953e1503d5ab4608d8ed5b739132308c81ac05ffeb760d2a7f30e08a9f90e0

A4PS_LLAMA=${A4PS_LLAMA:-source}
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
    # The stamp names the build's shape: change it when the options below change.
    STAMP="$LLAMA_DIR/install/.a4ps-ok-2"
    if [ ! -f "$STAMP" ]; then
      say "building llama.cpp and llama-server (first time on this machine: several minutes; cached afterwards)"
      export CCACHE_DIR=${CCACHE_DIR:-$CACHE/ccache}
      cmake -S "$LLAMA_DIR/src" -B "$LLAMA_DIR/build" -G Ninja \
        -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$LLAMA_DIR/install" \
        -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
        -DBUILD_SHARED_LIBS=OFF -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DGGML_NATIVE=ON \
        -DLLAMA_BUILD_COMMON=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON \
        -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF \
        -DLLAMA_TOOLS_INSTALL=OFF -DLLAMA_TESTS_INSTALL=OFF \
        -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF >"$LLAMA_DIR/configure.log" 2>&1 \
        || die "llama.cpp configure failed; see $LLAMA_DIR/configure.log"
      # The libraries, plus llama-server (the OpenAI-compatible peer the tests talk to).
      cmake --build "$LLAMA_DIR/build" -j"$(nproc)" --target llama llama-common llama-server >"$LLAMA_DIR/build.log" 2>&1 \
        || die "llama.cpp build failed; see $LLAMA_DIR/build.log"
      cmake --install "$LLAMA_DIR/build" >"$LLAMA_DIR/install.log" 2>&1 || die "llama.cpp install failed; see $LLAMA_DIR/install.log"
      mkdir -p "$LLAMA_DIR/install/bin"
      cp "$LLAMA_DIR/build/bin/llama-server" "$LLAMA_DIR/install/bin/"
      [ -f "$LLAMA_DIR/install/lib/cmake/llama/llama-config.cmake" ] || die "llama.cpp install failed"
      touch "$STAMP"
    fi
    # llama-common needs its build-info library, which llama.cpp's install leaves out.
    [ -f "$LLAMA_DIR/install/lib/libllama-common-base.a" ] ||
      cp "$LLAMA_DIR/build/common/libllama-common-base.a" "$LLAMA_DIR/install/lib/" ||
      die "libllama-common-base.a missing from the llama.cpp build; remove $LLAMA_DIR and run again"
    echo "$LLAMA_DIR/install" > "$CACHE/llama-prefix-source"
    ;;
  prebuilt)
    llama_source   # headers and vocab files come from the same source tree
    fetch_npm "@node-llama-cpp/linux-x64@$NLC_VERSION" "node-llama-cpp-linux-x64-$NLC_VERSION.tgz" "$NLC_LINUX_SHA256"
    if [ ! -f "$LLAMA_DIR/prebuilt/.a4ps-ok" ]; then
      rm -rf "$LLAMA_DIR/prebuilt"; mkdir -p "$LLAMA_DIR/prebuilt"
      tar -xzf "$CACHE/npm/node-llama-cpp-linux-x64-$NLC_VERSION.tgz" -C "$LLAMA_DIR/prebuilt" --strip-components=3 package/bins/linux-x64
      touch "$LLAMA_DIR/prebuilt/.a4ps-ok"
    fi
    echo "$LLAMA_DIR/prebuilt" > "$CACHE/llama-prefix-prebuilt"
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
say "ready (llama.cpp: $A4PS_LLAMA)"
