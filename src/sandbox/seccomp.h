// The seccomp filter for sandboxes that share the host kernel (bubblewrap, `none`):
// denies the system calls that reach past the sandbox's namespaces (tracing other
// processes, mounts, new namespaces, keyrings, BPF, io_uring, kernel modules, …) and
// every socket family but AF_UNIX. Denied calls fail with EPERM (clone3 with ENOSYS, so
// libc falls back to clone, whose namespace flags are checked), so agent code gets a
// clear Python error and the run goes on. gVisor needs none: its kernel is the filter.
#pragma once
#include <string>
#include <vector>

namespace a4ps::sandbox {

// A sealed memfd holding the filter as a BPF program, for `bwrap --seccomp FD`.
int seccomp_bpf_fd();  // throws Error
// Installs the filter on the calling process (sets no_new_privs first); for `none`.
// Returns false where the kernel refuses it.
bool seccomp_install();
// The system calls the filter denies, by name (for doctor and the tests).
std::vector<std::string> seccomp_denied();

}  // namespace a4ps::sandbox
