# title: ptrace of every visible process (attach, seize) and of the host's a4ps
# class: processes
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
attached = []
targets = {int(p) for p in os.listdir("/proc") if p.isdigit()} | {HOST_PID, 1}
targets.discard(os.getpid())
for pid in sorted(targets):
    for req, name in ((16, "ATTACH"), (0x4206, "SEIZE")):
        if libc.ptrace(req, pid, None, None) == 0:
            attached.append("%s %d" % (name, pid))
            libc.ptrace(17, pid, None, None)  # PTRACE_DETACH
"ESCAPED: " + ", ".join(attached) if attached else "CONTAINED"
