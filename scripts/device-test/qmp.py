"""QEMU's machine protocol (QMP) over a unix socket, and connecting to QEMU's socket chardevs,
for the device test's host scripts (harness.py, kernel-check.py). Python standard library only."""
import json, socket, time


class QMPError(Exception):
    pass


def connect_unix(path, tries=200, pause=0.05):
    """A connected unix socket; QEMU creates its server sockets a moment after it starts."""
    for _ in range(tries):
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(path)
            return s
        except OSError:
            s.close()
            time.sleep(pause)
    raise QMPError(f'cannot connect to {path}')


class QMP:
    def __init__(self, path):
        self.s = connect_unix(path)
        self.f = self.s.makefile('rwb')
        json.loads(self.f.readline())  # the greeting
        self.cmd('qmp_capabilities')

    def cmd(self, name, **args):
        """Runs a command and returns its result; events in between are skipped."""
        self.f.write(json.dumps({'execute': name, 'arguments': args}).encode() + b'\n')
        self.f.flush()
        while True:
            line = self.f.readline()
            if not line:
                raise QMPError(f'QMP {name}: connection closed')
            r = json.loads(line)
            if 'event' in r:
                continue
            if 'error' in r:
                raise QMPError(f'QMP {name}: {r["error"]}')
            return r['return']
