# title: the host's /tmp
# class: files
import os
got = []
try:
    if CANARY.encode() in open(HOST_TMP_FILE, "rb").read():
        got.append("read " + HOST_TMP_FILE)
except OSError:
    pass
try:
    if os.path.basename(HOST_TMP_FILE) in os.listdir("/tmp"):
        got.append("saw it in /tmp")
except OSError:
    pass
"ESCAPED: " + ", ".join(got) if got else "CONTAINED"
