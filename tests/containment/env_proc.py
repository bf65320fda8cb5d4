# title: the host's environment, through os.environ and /proc/*/environ, cmdline
# class: host environment
import os
leaks = []
if any(CANARY in v for v in os.environ.values()):
    leaks.append("os.environ")
for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
    for f in ("environ", "cmdline"):
        try:
            with open("/proc/%s/%s" % (pid, f), "rb") as fh:
                data = fh.read()
        except OSError:
            continue
        if CANARY.encode() in data:
            leaks.append("/proc/%s/%s" % (pid, f))
        if f == "environ" and (b"A4PS_CANARY" in data or b"HOME=/root" in data):
            leaks.append("/proc/%s/environ holds host variables" % pid)
"ESCAPED: " + ", ".join(leaks) if leaks else "CONTAINED"
