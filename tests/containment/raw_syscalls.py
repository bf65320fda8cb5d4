# title: raw system calls through ctypes: namespaces, mounts, keyrings, BPF, io_uring, modules
# class: syscalls
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
sc = libc.syscall
got = []
def must_fail(name, rc):
    if rc >= 0:
        got.append(name)
# Where the sandbox has a kernel of its own (gVisor), these are answered by it, not by
# the host's: new namespaces and io_uring there are the sandbox's own business.
shared_kernel = os.uname().release == HOST_KERNEL
# x86_64 numbers
if shared_kernel:
    must_fail("unshare(CLONE_NEWUSER)", sc(272, 0x10000000))
    must_fail("unshare(CLONE_NEWNS)", sc(272, 0x00020000))
    try:
        must_fail("setns", sc(308, os.open("/proc/self/ns/mnt", os.O_RDONLY), 0))
    except OSError:
        pass  # no namespace files to join
must_fail("mount tmpfs", libc.mount(b"none", b"/tmp", b"tmpfs", 0, None))
must_fail("keyctl(GET_KEYRING_ID)", sc(250, 0, -3, 0))  # the session keyring
must_fail("add_key", libc.syscall(248, b"user", b"a4ps", b"x", 1, -3))
buf = ctypes.create_string_buffer(128)
must_fail("bpf(PROG_LOAD)", sc(321, 5, buf, 128))
attr = ctypes.create_string_buffer(128); attr[4] = 128  # perf_event_attr.size
must_fail("perf_event_open", sc(298, attr, 0, -1, -1, 0))
must_fail("userfaultfd", sc(323, 0))
params = ctypes.create_string_buffer(120)
if shared_kernel:
    must_fail("io_uring_setup", sc(425, 4, params))
must_fail("init_module", sc(175, None, 0, b""))
must_fail("kexec_load", sc(246, 0, 0, None, 0))
must_fail("process_vm_readv", sc(310, 1, None, 0, None, 0, 0))
must_fail("personality(ADDR_NO_RANDOMIZE)", sc(135, 0x0040000))
sc(135, 0)
must_fail("acct", sc(163, b"/tmp/acct"))
must_fail("swapon", sc(167, b"/tmp/swap", 0))
"ESCAPED: " + ", ".join(got) + " worked" if got else "CONTAINED"
