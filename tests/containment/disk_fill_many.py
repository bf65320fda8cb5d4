# title: filling the disk with many files, big and empty, in the workspace
# class: resources
# limits: wall_ms=20000
# host: workspace-bounded
import os
n = 0
try:
    while n < 8192:
        with open("/work/f%05d.bin" % n, "wb") as f:
            f.write(b"\1" * (1 << 20))
        n += 1
except OSError:
    pass
for name in os.listdir("/work"):
    os.remove(os.path.join("/work", name))
m = 0
try:
    os.makedirs("/work/empty", exist_ok=True)
    while m < 50000:
        open("/work/empty/%06d" % m, "w").close()
        m += 1
except OSError:
    pass
"ESCAPED: %d MiB in files" % n if n >= 8192 else "CONTAINED"
