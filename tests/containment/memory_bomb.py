# title: a memory bomb (one process, and one per child)
# class: resources
# limits: wall_ms=10000 processes=16
import os
held, total = [], 0
try:
    while total < (64 << 30):
        held.append(bytearray(256 << 20))
        total += 256 << 20
except MemoryError:
    pass
held = None
"ESCAPED: %d GiB allocated" % (total >> 30) if total >= (4 << 30) else "CONTAINED"
