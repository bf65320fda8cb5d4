# title: filling the disk with one file in the workspace
# class: resources
# limits: wall_ms=20000
# host: workspace-bounded
n = 0
try:
    with open("/work/big.bin", "wb") as f:
        while n < (8 << 30):
            f.write(b"\0" * (1 << 20))
            n += 1 << 20
except OSError:
    pass
"ESCAPED: %d MiB written" % (n >> 20) if n >= (8 << 30) else "CONTAINED"
