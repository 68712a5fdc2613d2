import os
import signal
import ssl
import socket
import struct
import sys
import threading
import time
from urllib.parse import urlsplit

# Where the finding was made; a URL on the command line replaces it.
FOUND_ON = "@FOUND_ON@"
URL = sys.argv[1] if len(sys.argv) > 1 else FOUND_ON
TIMEOUT = float("@TIMEOUT@")  # seconds to wait for a connection, an answer or a close, as wsfuzz did
# Credentials are never written into this file. Give them as wsfuzz had them, one header a
# line in WSFUZZ_HEADERS ("Authorization: Bearer ...") and query parameters in WSFUZZ_QUERY
# ("token=...&..."); cookies and subprotocols are headers too.
ORIGIN = "@ORIGIN@"  # the site's Origin, sent as a browser on it would (empty: none)
FOREIGN_ORIGIN = "https://wsfuzz-foreign.example"
MASK = bytes([0x37, 0xFA, 0x21, 0x3D])  # wsfuzz's fixed mask key
START = time.monotonic()
signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # piped into `head`, end quietly as other tools do
PRINT = threading.Lock()
OPCODES = {0: "continuation", 1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong"}


def authority(url):
    """The host to connect to, and `host:port` as the Host header spells it."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        sys.exit("usage: %s [ws://HOST:PORT]: %r is not a ws:// or wss:// URL" % (sys.argv[0], url))
    default = 443 if parts.scheme == "wss" else 80
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return parts.hostname, parts.port or default, netloc if parts.port else "%s:%d" % (netloc, default)


HOST, PORT, HOST_HEADER = authority(URL)
TLS = urlsplit(URL).scheme == "wss"


def open_socket():
    """A TCP connection to the server, under TLS for wss:// (trusting WSFUZZ_CA_FILE if given,
    and any certificate if WSFUZZ_INSECURE is set, as wsfuzz's --ca-file and --insecure)."""
    sock = socket.create_connection((HOST, PORT), timeout=TIMEOUT)
    if not TLS:
        return sock
    context = ssl.create_default_context(cafile=os.environ.get("WSFUZZ_CA_FILE"))
    if os.environ.get("WSFUZZ_INSECURE"):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context.wrap_socket(sock, server_hostname=HOST)
FOUND_HOST_HEADER = authority(FOUND_ON)[2]


def log(conn, what):
    with PRINT:
        tag = "[%s] " % conn if conn else ""
        print("%9.3f ms  %s%s" % ((time.monotonic() - START) * 1000, tag, what), flush=True)


def shown(data, limit=200):
    text = data.decode("utf-8", "replace")
    return repr(text if len(text) <= limit else text[:limit] + "...")


class Conn:
    """One connection: a socket and the bytes read from it but not yet taken as a frame."""

    def __init__(self, name):
        self.name = name
        self.sock = None
        self.buffer = b""
        self.open = False  # the WebSocket is open: frames may be sent
        self.eof = False  # the server ended the TCP connection
        self.sent_close = False

    def read_more(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        except OSError as e:
            log(self.name, "<- connection ended: %s" % e)
            self.open, self.eof = False, True
            return False
        if not data:
            log(self.name, "<- the server closed the TCP connection")
            self.open, self.eof = False, True
            return False
        self.buffer += data
        return True

    def frame(self, deadline):
        """The next frame as (fin, opcode, payload), or None at the end or the deadline."""
        while True:
            b = self.buffer
            if len(b) >= 2:
                size, at = b[1] & 0x7F, 2
                if size == 126 and len(b) >= 4:
                    size, at = struct.unpack(">H", b[2:4])[0], 4
                elif size == 127 and len(b) >= 10:
                    size, at = struct.unpack(">Q", b[2:10])[0], 10
                masked = 4 if b[1] & 0x80 else 0
                if (size < 126 or at > 2) and len(b) >= at + masked:
                    mask = b[at:at + masked]
                    end = at + masked + size
                    if len(b) >= end:
                        payload = b[at + len(mask):end]
                        if mask:
                            payload = bytes(x ^ mask[i % 4] for i, x in enumerate(payload))
                        self.buffer = b[end:]
                        return bool(b[0] & 0x80), b[0] & 0x0F, payload
            if self.eof or not self.read_more(deadline):
                return None


def encode(opcode, payload):
    """A final, masked frame."""
    size = len(payload)
    if size < 126:
        header = bytes([0x80 | opcode, 0x80 | size])
    elif size < 1 << 16:
        header = bytes([0x80 | opcode, 0x80 | 126]) + struct.pack(">H", size)
    else:
        header = bytes([0x80 | opcode, 0x80 | 127]) + struct.pack(">Q", size)
    return header + MASK + bytes(x ^ MASK[i % 4] for i, x in enumerate(payload))


def write(conn, data, drip=0):
    """Writes `data`; with `drip`, its first 32 pieces of `drip` bytes one at a time, as wsfuzz does."""
    try:
        conn.sock.settimeout(TIMEOUT)
        if drip:
            for i in range(0, min(len(data), 32 * drip), drip):
                conn.sock.sendall(data[i:i + drip])
                time.sleep(0.001)
            data = data[32 * drip:]
        conn.sock.sendall(data)
    except OSError as e:
        log(conn.name, "write failed: %s" % e)


def paced(data, chunk):
    """The size of the pieces a handshake written `chunk` bytes at a time goes in, as wsfuzz wrote it."""
    return max(chunk, len(data) // 2000, 1) if chunk else 0


def altered(value):
    """A secret with its last character changed: close to right, still wrong."""
    return value[:-1] + ("y" if value.endswith("x") else "x")


def request(hex_bytes, change=None):
    """The handshake's bytes for this URL, with the credentials (changed as the case says)."""
    data = bytes.fromhex(hex_bytes)
    data = data.replace(b"Host: " + FOUND_HOST_HEADER.encode(), b"Host: " + HOST_HEADER.encode(), 1)
    headers = [line.split(":", 1) for line in os.environ.get("WSFUZZ_HEADERS", "").splitlines() if ":" in line]
    query = [pair.split("=", 1) for pair in os.environ.get("WSFUZZ_QUERY", "").split("&") if "=" in pair]
    if change == "without":
        headers, query = [], []
    elif change == "wrong":
        headers = [(name, altered(value.strip())) for name, value in headers]
        query = [(name, altered(value)) for name, value in query]
    origin = FOREIGN_ORIGIN if change == "foreign_origin" else ORIGIN
    if origin:
        headers.append(("Origin", origin))
    head, _, rest = data.partition(b"\r\n")
    if query:
        method, _, tail = head.partition(b" ")
        target, _, version = tail.rpartition(b" ")
        joint = b"&" if b"?" in target else b"?"
        target += joint + "&".join("%s=%s" % (k, v) for k, v in query).encode()
        head = b" ".join([method, target, version])
    present = rest.lower()
    extra = b"".join(
        b"%s: %s\r\n" % (name.strip().encode(), value.strip().encode())
        for name, value in headers
        if b"\r\n" + name.strip().lower().encode() + b":" not in b"\r\n" + present
    )
    return head + b"\r\n" + extra + rest


def connect(name, hex_request, chunk=None, cut=None, change=None):
    """Opens a connection and writes the opening handshake; reads the answer unless cut short."""
    conn = Conn(name)
    data = request(hex_request, change)
    try:
        conn.sock = open_socket()
    except OSError as e:
        log(name, "cannot connect to %s:%d: %s" % (HOST, PORT, e))
        conn.eof = True
        return conn
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn.open = True
    if cut is not None:
        write(conn, data[:cut], paced(data[:cut], chunk))
        log(name, "-> the first %d bytes of the handshake, then drop" % cut)
        drop(conn)
        return conn
    # The request line as wsfuzz wrote it: without the query credentials, which stay unprinted.
    log(name, "-> handshake %s" % shown(bytes.fromhex(hex_request).split(b"\r\n")[0]))
    write(conn, data, paced(data, chunk))
    deadline = time.monotonic() + TIMEOUT
    while b"\r\n\r\n" not in conn.buffer:
        if not conn.read_more(deadline):
            log(name, "<- no complete handshake answer: %s" % shown(conn.buffer))
            conn.open, conn.eof = False, True
            return conn
    head, conn.buffer = conn.buffer.split(b"\r\n\r\n", 1)
    status = head.split(b"\r\n")[0]
    log(name, "<- %s" % shown(status))
    if b" 101 " not in status + b" ":
        log(name, "   body: %s" % shown(conn.buffer))
        conn.open, conn.eof = False, True
    return conn


def send(conn, hex_frame, what, drip=False):
    """Writes one frame exactly as wsfuzz wrote it, valid or not."""
    if conn.open:
        data = bytes.fromhex(hex_frame)
        conn.sent_close |= data[:1] != b"" and data[0] & 0x0F == 8
        log(conn.name, "-> %s" % what)
        write(conn, data, max(1, len(data) // 2000) if drip else 0)


def message(conn, opcode, payload):
    """Sends one message, as a conforming client frames it."""
    if conn.open:
        conn.sent_close |= opcode == 8
        if opcode == 8:
            log(conn.name, "-> close %d" % struct.unpack(">H", payload[:2]))
        else:
            log(conn.name, "-> %s %s" % (OPCODES[opcode], shown(payload)))
        write(conn, encode(opcode, payload))


def show(conn, fin, opcode, payload):
    name = OPCODES.get(opcode, "opcode %d" % opcode)
    more = "" if fin else " (not final)"
    if opcode == 8 and len(payload) >= 2:
        code = struct.unpack(">H", payload[:2])[0]
        log(conn.name, "<- close %d %s" % (code, shown(payload[2:])))
    elif opcode == 2:
        log(conn.name, "<- binary, %d bytes%s" % (len(payload), more))
    else:
        log(conn.name, "<- %s %s%s" % (name, shown(payload), more))


def answer(conn, ms=TIMEOUT * 1000, until=(1, 2, 8)):
    """Reads frames until one whose opcode is in `until` (a message or a close, by default), the
    end of the connection, or `ms` milliseconds; answers pings as a client must."""
    if conn.eof:
        return None
    deadline = time.monotonic() + ms / 1000
    heard = False
    while True:
        got = conn.frame(deadline)
        if got is None:
            if not conn.eof:
                log(conn.name, "<- nothing %swithin %d ms" % ("more " if heard else "", ms))
            return None
        heard = True
        fin, opcode, payload = got
        show(conn, fin, opcode, payload)
        if opcode == 9:
            write(conn, encode(10, payload))
        if opcode == 8:
            if not conn.sent_close:
                write(conn, encode(8, payload[:2]))
            conn.open = False
            return opcode
        if opcode in until:
            return opcode


def ping(conn):
    """Asks whether the connection is still in order: a ping the server must answer with a pong."""
    message(conn, 9, b"wsfuzz-sentinel")
    answer(conn, until=(10,))


def close(conn):
    """The closing handshake: a close 1000, then the server's close and the end of TCP."""
    if conn.open:
        message(conn, 8, struct.pack(">H", 1000))
    ended(conn)


def ended(conn):
    """Waits for the server's close (answering it) and the end of TCP, then lets go."""
    if conn.open:
        answer(conn, until=(8,))
    if conn.sock:
        deadline = time.monotonic() + TIMEOUT
        while not conn.eof and conn.read_more(deadline):
            pass
        conn.sock.close()
        conn.sock = None


def drop(conn):
    """Closes TCP (a FIN) without a closing handshake."""
    if conn.sock:
        log(conn.name, "-> drop the connection")
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        conn.sock.close()
        conn.open, conn.eof = False, True


def reset(conn):
    """Aborts TCP: SO_LINGER 0 turns the close into a reset."""
    if conn.sock:
        log(conn.name, "-> reset the connection")
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.sock.close()
        conn.open, conn.eof = False, True


def half_close(conn):
    """Stops writing and reads until the server ends the connection."""
    if conn.sock:
        log(conn.name, "-> stop writing (half-close)")
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError as e:
            log(conn.name, "half-close failed: %s" % e)
        ended(conn)


def burst(name, hex_request, count):
    """Opens `count` more connections, each dropped halfway through its handshake."""
    data = request(hex_request)
    log(name, "-> open and drop %d connections" % count)
    for _ in range(count):
        try:
            with open_socket() as other:
                other.sendall(data[: len(data) // 2])
        except OSError:
            pass


def wait(ms):
    time.sleep(ms / 1000)


def together(*clients):
    """Plays each connection's part at the same time, as wsfuzz did."""
    threads = [threading.Thread(target=client) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def probe(hex_request):
    """A fresh connection after the case: is the server still serving?"""
    conn = connect("probe", hex_request)
    if conn.open:
        close(conn)
        print("the server still accepts connections")
    else:
        print("the server no longer accepts connections")
