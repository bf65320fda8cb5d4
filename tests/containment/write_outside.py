# title: writes outside the workspace: /, /usr, /etc, the runtime, the seed, /proc/sys, /dev
# class: files
import os
wrote = []
for path in ("/evil", "/usr/evil", "/etc/evil", "/a4ps/evil", "/a4ps-seed/evil", "/bin/evil", "/lib/evil",
             "/proc/sys/kernel/hostname", "/proc/sysrq-trigger", "/dev/evil", "/sys/evil"):
    try:
        with open(path, "w") as f:
            f.write("x")
        wrote.append(path)
    except OSError:
        pass
"ESCAPED: wrote " + ", ".join(wrote) if wrote else "CONTAINED"
