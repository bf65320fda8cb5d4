# title: reading /root, /etc/shadow, /home and a host file that holds a secret
# class: files
import os
got = []
for path in ("/etc/shadow", "/root/.bashrc", "/root/.ssh/id_rsa", HOST_SECRET_FILE, "/proc/1/root/etc/shadow"):
    try:
        data = open(path, "rb").read()
        if path != HOST_SECRET_FILE or CANARY.encode() in data:
            got.append(path)
    except OSError:
        pass
for d in ("/root", "/home"):
    try:
        if os.listdir(d):
            got.append("listed " + d)
    except OSError:
        pass
"ESCAPED: read " + ", ".join(got) if got else "CONTAINED"
