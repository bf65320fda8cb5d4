# title: other processes: the host's pids, and host paths on any command line
# class: processes
import os
seen = []
pids = [p for p in os.listdir("/proc") if p.isdigit()]
try:
    cmd = open("/proc/%d/cmdline" % HOST_PID, "rb").read()
    if b"a4ps_runtime" not in cmd and not cmd.startswith(b"bwrap"):
        seen.append("the host's process (pid %d)" % HOST_PID)
except OSError:
    pass
for pid in pids:
    try:
        cmd = open("/proc/%s/cmdline" % pid, "rb").read()
    except OSError:
        continue
    if HOST_SECRET_FILE.rsplit("/", 1)[0].encode() in cmd or b"/root" in cmd:
        seen.append("host paths in /proc/%s/cmdline" % pid)
if len(pids) > 4:
    seen.append("%d processes visible" % len(pids))
"ESCAPED: " + "; ".join(seen) if seen else "CONTAINED"
