# title: a thread bomb
# class: resources
# limits: wall_ms=8000 processes=32
import threading, time
n = 0
stop = threading.Event()
try:
    while n < 100000:
        t = threading.Thread(target=stop.wait, daemon=True)
        t.start()
        n += 1
except RuntimeError:
    pass
stop.set()
"ESCAPED: %d threads started" % n if n >= 100000 else "CONTAINED"
# --- run ---
2 + 2 == 4 and "CONTAINED"
