# title: a fork bomb
# class: resources
# limits: wall_ms=8000 processes=32
# host: no-survivors
import os, sys
n = 0
try:
    while n < 100000:
        pid = os.fork()
        if pid == 0:
            try:
                os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(120)", MARKER])
            finally:
                os._exit(0)
        n += 1
except OSError:
    pass
"ESCAPED: %d processes started" % n if n >= 100000 else "CONTAINED"
# --- run ---
2 + 2 == 4 and "CONTAINED"
