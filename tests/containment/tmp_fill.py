# title: filling /tmp
# class: resources
# limits: wall_ms=20000
n = 0
try:
    with open("/tmp/fill.bin", "wb") as f:
        while n < (8 << 30):
            f.write(b"\0" * (1 << 20))
            f.flush()
            n += 1 << 20
except OSError:
    pass
import os
try:
    os.remove("/tmp/fill.bin")
except OSError:
    pass
"ESCAPED: %d MiB written to /tmp" % (n >> 20) if n > TMP_LIMIT + (1 << 20) else "CONTAINED"
