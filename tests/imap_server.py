"""A small IMAP4rev1 server for tests (a real socket that imaplib talks to), with
just the commands the bounce poll uses: CAPABILITY, LOGIN, SELECT, UID SEARCH
UNSEEN, UID FETCH (RFC822), UID STORE +/-FLAGS, UID COPY, EXPUNGE, LOGOUT.
`fail_after_fetch` / state inspection let tests see what was deleted when."""
import re
import socketserver
import threading

_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"|(\S+)')


class Mailbox:
    def __init__(self, user="bounces", password="s3cret pass"):
        self.user, self.password = user, password
        self.messages = {}  # uid -> {"raw": bytes, "flags": set()}
        self.folders = {"INBOX": self.messages}
        self.copied = {}  # folder -> [raw]
        self.log = []  # (command, uid) in the order they came
        self._next = 1
        self.lock = threading.Lock()

    def add(self, raw: bytes) -> int:
        with self.lock:
            uid, self._next = self._next, self._next + 1
            self.messages[uid] = {"raw": raw, "flags": set()}
            return uid


class _Handler(socketserver.StreamRequestHandler):
    def send(self, line: str | bytes):
        self.wfile.write(line if isinstance(line, bytes) else line.encode() + b"\r\n")

    def handle(self):
        box: Mailbox = self.server.mailbox
        self.send("* OK [CAPABILITY IMAP4rev1] fake IMAP ready")
        while True:
            line = self.rfile.readline()
            if not line:
                return
            parts = [a or b for a, b in _TOKEN.findall(line.decode().strip())]
            tag, cmd, args = parts[0], parts[1].upper(), parts[2:]
            with box.lock:
                if not self._command(box, tag, cmd, args):
                    return

    def _seq(self, box, uid):
        return sorted(box.messages).index(uid) + 1

    def _command(self, box, tag, cmd, args) -> bool:
        if cmd == "CAPABILITY":
            self.send("* CAPABILITY IMAP4rev1")
        elif cmd == "LOGIN":
            if args != [box.user, box.password]:
                self.send(f"{tag} NO [AUTHENTICATIONFAILED] invalid credentials")
                return True
        elif cmd == "SELECT":
            self.send(f"* {len(box.messages)} EXISTS")
            self.send("* FLAGS (\\Seen \\Deleted)")
            self.send(f"{tag} OK [READ-WRITE] SELECT completed")
            return True
        elif cmd == "UID":
            return self._uid(box, tag, args[0].upper(), args[1:])
        elif cmd == "EXPUNGE":
            for uid in sorted(box.messages, reverse=True):
                if "\\Deleted" in box.messages[uid]["flags"]:
                    self.send(f"* {self._seq(box, uid)} EXPUNGE")
                    box.log.append(("EXPUNGE", uid))
                    del box.messages[uid]
        elif cmd == "LOGOUT":
            self.send("* BYE logging out")
            self.send(f"{tag} OK LOGOUT completed")
            return False
        else:
            self.send(f"{tag} BAD unknown command")
            return True
        self.send(f"{tag} OK {cmd} completed")
        return True

    def _uid(self, box, tag, sub, args) -> bool:
        if sub == "SEARCH":
            unseen = [str(u) for u, m in sorted(box.messages.items()) if "\\Seen" not in m["flags"]]
            self.send("* SEARCH" + "".join(" " + u for u in unseen))
        elif sub in ("FETCH", "STORE", "COPY"):
            uid = int(args[0])
            message = box.messages.get(uid)
            if message is None:
                self.send(f"{tag} OK nothing")
                return True
            box.log.append((sub, uid))
            if sub == "FETCH":
                message["flags"].add("\\Seen")
                raw = message["raw"]
                self.send(f"* {self._seq(box, uid)} FETCH (UID {uid} RFC822 {{{len(raw)}}}".encode()
                          + b"\r\n" + raw + b")\r\n")
            elif sub == "STORE":
                flags = set(" ".join(args[2:]).strip("()").split())
                if args[1].startswith("+"):
                    message["flags"] |= flags
                else:
                    message["flags"] -= flags
                self.send(f"* {self._seq(box, uid)} FETCH (UID {uid} FLAGS "
                          f"({' '.join(sorted(message['flags']))}))")
            else:
                box.copied.setdefault(args[1], []).append(message["raw"])
        else:
            self.send(f"{tag} BAD unknown UID command")
            return True
        self.send(f"{tag} OK UID {sub} completed")
        return True


class FakeImapServer:
    def __init__(self, mailbox: Mailbox):
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.mailbox = mailbox
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
