# title: the network: TCP and UDP to the host's loopback, DNS, netlink, packet sockets
# class: network
# host: udp-silent
import socket
out = []
try:
    socket.create_connection(("127.0.0.1", TCP_PORT), timeout=2).close()
    out.append("TCP to the host's loopback")
except OSError:
    pass
try:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(CANARY.encode(), ("127.0.0.1", UDP_PORT))
    s.close()
except OSError:
    pass
try:
    socket.getaddrinfo("example.com", 80)
    out.append("DNS resolved")
except OSError:
    pass
try:
    socket.create_connection(("1.1.1.1", 53), timeout=2).close()
    out.append("TCP to the internet")
except OSError:
    pass
try:
    names = [n for _, n in socket.if_nameindex()]
    if [n for n in names if n != "lo"]:
        out.append("network interfaces " + ",".join(names))
except OSError:
    pass
try:
    socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0x0300).close()
    out.append("a packet socket")
except (OSError, AttributeError):
    pass
try:
    socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP).close()
    out.append("a raw IP socket")
except OSError:
    pass
"ESCAPED: " + ", ".join(out) if out else "CONTAINED"
