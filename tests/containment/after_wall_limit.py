# title: code still running after the wall limit
# class: processes
# limits: wall_ms=1500
# host: no-survivors
import os, subprocess, sys
subprocess.Popen([sys.executable, "-c", "import time\nwhile True: time.sleep(0.05)", MARKER])
while True:
    pass
