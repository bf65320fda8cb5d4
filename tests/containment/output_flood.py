# title: an output flood (a gigabyte to stdout and stderr)
# class: resources
# limits: wall_ms=60000
# host: output-bounded
import sys
chunk = "x" * (1 << 20)
for _ in range(1024):
    print(chunk)
    sys.stderr.write(chunk)
"CONTAINED"
