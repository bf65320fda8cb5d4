#include "sandbox/seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>

#include "util/util.h"

namespace a4ps::sandbox {
namespace {

// Denied outright: each reaches the host kernel's shared state or another process.
const char* const kDenied[] = {
    // other processes' memory and control
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
    // the mount table and filesystem handles
    "mount", "umount2", "pivot_root", "move_mount", "open_tree", "fsopen", "fsmount", "fsconfig", "fspick",
    "mount_setattr", "chroot", "open_by_handle_at", "name_to_handle_at", "quotactl", "quotactl_fd",
    // namespaces
    "unshare", "setns",
    // keyrings, BPF, perf, userfaultfd, io_uring (its own syscall surface, unfiltered by seccomp)
    "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd", "io_uring_setup",
    "io_uring_enter", "io_uring_register",
    // the machine itself
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot", "swapon",
    "swapoff", "acct", "syslog", "vhangup", "iopl", "ioperm", "settimeofday", "clock_settime", "clock_adjtime",
    "adjtimex", "sethostname", "setdomainname", "lookup_dcookie", "uselib", "ustat", "sysfs", "nfsservctl",
    "_sysctl", "fanotify_init", "mbind", "migrate_pages", "move_pages", "set_mempolicy"};

constexpr uint64_t kNamespaceFlags = CLONE_NEWNS | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC |
                                     CLONE_NEWUTS | CLONE_NEWCGROUP | 0x00000080 /* CLONE_NEWTIME */;

struct Ctx {
  scmp_filter_ctx c;
  explicit Ctx(scmp_filter_ctx x) : c(x) {}
  Ctx(const Ctx&) = delete;
  Ctx& operator=(const Ctx&) = delete;
  ~Ctx() {
    if (c) seccomp_release(c);
  }
};

std::unique_ptr<Ctx> build() {
  auto ctx = std::make_unique<Ctx>(seccomp_init(SCMP_ACT_ALLOW));
  if (!ctx->c) throw Error("cannot build the seccomp filter (libseccomp)");
  scmp_filter_ctx c = ctx->c;
  const uint32_t eperm = SCMP_ACT_ERRNO(EPERM);
  auto add = [&](const char* name, uint32_t action, unsigned n, const scmp_arg_cmp* args) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) return;  // not a system call on this architecture
    if (seccomp_rule_add_array(c, action, nr, n, args) != 0)
      throw Error(std::string("cannot add '") + name + "' to the seccomp filter");
  };
  for (const char* name : kDenied) add(name, eperm, 0, nullptr);
  add("clone3", SCMP_ACT_ERRNO(ENOSYS), 0, nullptr);  // its flags live in memory; libc falls back to clone
  for (uint64_t bit = 1; bit; bit <<= 1)
    if (kNamespaceFlags & bit) {
      scmp_arg_cmp a = SCMP_A0(SCMP_CMP_MASKED_EQ, bit, bit);
      add("clone", eperm, 1, &a);
    }
  scmp_arg_cmp not_unix = SCMP_A0(SCMP_CMP_NE, AF_UNIX);
  add("socket", SCMP_ACT_ERRNO(EAFNOSUPPORT), 1, &not_unix);
  add("socketpair", SCMP_ACT_ERRNO(EAFNOSUPPORT), 1, &not_unix);
  // personality(): only the query and the default persona (changing it turns off ASLR).
  scmp_arg_cmp pers[] = {SCMP_A0(SCMP_CMP_NE, 0), SCMP_A0(SCMP_CMP_NE, 0xffffffffu)};
  if (seccomp_rule_add_array(c, eperm, seccomp_syscall_resolve_name("personality"), 2, pers) != 0) {
    scmp_arg_cmp p = SCMP_A0(SCMP_CMP_NE, 0xffffffffu);  // older libseccomp: one comparison per argument
    add("personality", eperm, 1, &p);
  }
  // Typing into a terminal the sandbox shares (TIOCSTI), and the console's tricks.
  for (uint64_t req : {uint64_t(TIOCSTI), uint64_t(TIOCLINUX)}) {
    scmp_arg_cmp a = SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, req);
    add("ioctl", eperm, 1, &a);
  }
  return ctx;
}

}  // namespace

int seccomp_bpf_fd() {
  auto ctx = build();
  int fd = memfd_create("a4ps-seccomp", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) throw Error("cannot create a memfd for the seccomp filter");
  if (seccomp_export_bpf(ctx->c, fd) != 0 || lseek(fd, 0, SEEK_SET) != 0) {
    close(fd);
    throw Error("cannot export the seccomp filter");
  }
  fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
  return fd;
}

bool seccomp_install() {
  try {
    auto ctx = build();
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 && seccomp_load(ctx->c) == 0;
  } catch (const Error&) {
    return false;
  }
}

std::vector<std::string> seccomp_denied() {
  std::vector<std::string> out(std::begin(kDenied), std::end(kDenied));
  for (const char* s : {"clone3", "clone (namespace flags)", "socket (all but AF_UNIX)", "personality (changes)",
                        "ioctl TIOCSTI/TIOCLINUX"})
    out.push_back(s);
  return out;
}

}  // namespace a4ps::sandbox
