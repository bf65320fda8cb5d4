# title: the host's unix sockets, by path and abstract name
# class: network
import socket
out = []
for addr in (HOST_SOCKET, "\0" + ABSTRACT_SOCKET, "/run/dbus/system_bus_socket", "/var/run/docker.sock",
             "/run/systemd/private", "/tmp/.X11-unix/X0"):
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(2)
        s.connect(addr)
        s.close()
        out.append(repr(addr))
    except OSError:
        pass
"ESCAPED: connected to " + ", ".join(out) if out else "CONTAINED"
