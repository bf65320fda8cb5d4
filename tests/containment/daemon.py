# title: a daemonised child outliving the call
# class: processes
# host: no-survivors
import os, sys
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(120)", MARKER])
    os._exit(0)
os.wait()
"started"
# --- run ---
import os
others = []
for p in os.listdir("/proc"):
    if p.isdigit() and int(p) not in (1, os.getpid()):
        try:
            if MARKER.encode() in open("/proc/%s/cmdline" % p, "rb").read():
                others.append(p)
        except OSError:
            pass
"ESCAPED: the daemon still runs (pid %s)" % ",".join(others) if others else "CONTAINED"
