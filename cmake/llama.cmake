# Where llama.cpp comes from (scripts/setup.sh prepares the first two):
#   source   (default) llama.cpp built from node-llama-cpp's git bundle, installed under
#            the setup cache; found with find_package(llama) like any installed llama.cpp.
#   prebuilt @node-llama-cpp/linux-x64's CPU libraries + headers from the same source.
#   system   an installed llama.cpp (distro, vcpkg, your own build): find_package(llama).
set(A4PS_LLAMA "source" CACHE STRING "llama.cpp provider: source, prebuilt or system")
set_property(CACHE A4PS_LLAMA PROPERTY STRINGS source prebuilt system)

if(DEFINED ENV{A4PS_CACHE})
  set(_a4ps_cache "$ENV{A4PS_CACHE}")
else()
  set(_a4ps_cache "$ENV{HOME}/.cache/a4ps")
endif()
if(NOT A4PS_LLAMA_PREFIX AND EXISTS "${_a4ps_cache}/llama-prefix-${A4PS_LLAMA}")
  file(STRINGS "${_a4ps_cache}/llama-prefix-${A4PS_LLAMA}" A4PS_LLAMA_PREFIX LIMIT_COUNT 1)
endif()
if(NOT A4PS_LLAMA_SOURCE AND EXISTS "${_a4ps_cache}/llama-source")
  file(STRINGS "${_a4ps_cache}/llama-source" A4PS_LLAMA_SOURCE LIMIT_COUNT 1)
endif()
set(A4PS_LLAMA_PREFIX "${A4PS_LLAMA_PREFIX}" CACHE PATH "llama.cpp install prefix (source/prebuilt)")
set(A4PS_LLAMA_SOURCE "${A4PS_LLAMA_SOURCE}" CACHE PATH "llama.cpp source tree (headers, vocab files)")

add_library(a4ps::llama INTERFACE IMPORTED)
if(A4PS_LLAMA STREQUAL "prebuilt")
  if(NOT EXISTS "${A4PS_LLAMA_PREFIX}/libggml-base.so")
    message(FATAL_ERROR "prebuilt llama.cpp not found; run `A4PS_LLAMA=prebuilt scripts/setup.sh` first")
  endif()
  file(GLOB _llama_lib "${A4PS_LLAMA_PREFIX}/libllama.*.so")
  file(GLOB _ggml_lib "${A4PS_LLAMA_PREFIX}/libggml.*.so")
  target_include_directories(a4ps::llama INTERFACE "${A4PS_LLAMA_SOURCE}/include" "${A4PS_LLAMA_SOURCE}/ggml/include")
  target_link_libraries(a4ps::llama INTERFACE ${_llama_lib} ${_ggml_lib} "${A4PS_LLAMA_PREFIX}/libggml-base.so")
  # CPU kernels are separate per-ISA libraries, loaded at run time from this folder.
  target_compile_definitions(a4ps::llama INTERFACE A4PS_GGML_BACKEND_DIR="${A4PS_LLAMA_PREFIX}")
  set(CMAKE_BUILD_RPATH "${A4PS_LLAMA_PREFIX}")
  set(CMAKE_INSTALL_RPATH "${A4PS_LLAMA_PREFIX}")
else()
  if(A4PS_LLAMA STREQUAL "source")
    if(NOT EXISTS "${A4PS_LLAMA_PREFIX}/lib/cmake/llama")
      message(FATAL_ERROR "llama.cpp is not built yet; run scripts/setup.sh first")
    endif()
    find_package(llama CONFIG REQUIRED PATHS "${A4PS_LLAMA_PREFIX}" NO_DEFAULT_PATH)
  else()
    find_package(llama CONFIG REQUIRED)
  endif()
  target_link_libraries(a4ps::llama INTERFACE llama)
  # A static llama.cpp built for CUDA (A4PS_GPU=cuda scripts/setup.sh): ggml's package names
  # the backend but not the CUDA runtime and cuBLAS that ggml-cuda links privately.
  if(GGML_CUDA AND NOT GGML_SHARED_LIB AND NOT GGML_STATIC)
    find_package(CUDAToolkit REQUIRED)
    target_link_libraries(a4ps::llama INTERFACE CUDA::cudart CUDA::cublas CUDA::cublasLt)
  endif()
endif()

# llama-common: llama.cpp's JSON-schema-to-grammar converter (and more), headers from the source.
add_library(a4ps::llama_common INTERFACE IMPORTED)
find_library(A4PS_LLAMA_COMMON_LIB NAMES llama-common
             PATHS "${A4PS_LLAMA_PREFIX}/lib" "${A4PS_LLAMA_PREFIX}" NO_DEFAULT_PATH)
if(NOT A4PS_LLAMA_COMMON_LIB)
  find_library(A4PS_LLAMA_COMMON_LIB NAMES llama-common)
endif()
if(NOT A4PS_LLAMA_COMMON_LIB)
  message(FATAL_ERROR "llama.cpp's llama-common library was not found (build llama.cpp with LLAMA_BUILD_COMMON=ON)")
endif()
find_library(A4PS_LLAMA_COMMON_BASE_LIB NAMES llama-common-base
             PATHS "${A4PS_LLAMA_PREFIX}/lib" "${A4PS_LLAMA_PREFIX}" NO_DEFAULT_PATH)
target_include_directories(a4ps::llama_common INTERFACE "${A4PS_LLAMA_SOURCE}/common")
target_link_libraries(a4ps::llama_common INTERFACE "${A4PS_LLAMA_COMMON_LIB}" a4ps::llama)
if(A4PS_LLAMA_COMMON_BASE_LIB)  # static builds: build-info symbols live here
  target_link_libraries(a4ps::llama_common INTERFACE "${A4PS_LLAMA_COMMON_BASE_LIB}")
endif()

# Tokenizer vocabularies for the synthetic-model generator live in the llama.cpp source.
set(A4PS_VOCAB_DIR "${A4PS_LLAMA_SOURCE}/models")
if(NOT EXISTS "${A4PS_VOCAB_DIR}/ggml-vocab-qwen2.gguf")
  message(WARNING "llama.cpp vocab files not found under '${A4PS_VOCAB_DIR}'; "
                  "set A4PS_LLAMA_SOURCE to a llama.cpp source tree (tests need them)")
endif()
set(_a4ps_gpu "")
foreach(_b CUDA VULKAN)
  string(TOLOWER ${_b} _lib)
  if(GGML_${_b} OR (A4PS_LLAMA STREQUAL "prebuilt" AND EXISTS "${A4PS_LLAMA_PREFIX}/libggml-${_lib}.so"))
    string(APPEND _a4ps_gpu " ${_b}")
  endif()
endforeach()
message(STATUS "a4ps: llama.cpp from ${A4PS_LLAMA} (${A4PS_LLAMA_PREFIX}), GPU backends:${_a4ps_gpu}")
