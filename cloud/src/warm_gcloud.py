"""A warm gcloud: one interpreter that has already imported gcloud forks a child per call.

Started by a rehearsal as `PYTHON [-S] warm_gcloud.py SDK_ROOT SOCKET KEY`, with SOCKET's
listener as standard output, a pipe as standard input, and the environment the gcloud wrapper
script would have given the interpreter. It imports what every gcloud call imports before doing
anything (lib/gcloud.py's own path set-up, then googlecloudsdk.gcloud_main), noting the variables
and files those imports read, and then, per connection on SOCKET, forks a child that becomes the
caller's gcloud: the caller's standard streams, working directory, umask, process group,
environment and arguments, then gcloud.py's own main(). So a call behaves as a fresh `gcloud`
would, as long as what the imports read is the same for it: a call whose interpreter settings
(KEY: the interpreter, its flags and every PYTHON* variable) or values of those variables differ
is answered "cold" and the caller runs the real gcloud instead; when those files have changed, the
server imports again (exec'ing itself, keeping the socket and the waiting callers).

Protocol (the caller is `meshbook` called as `gcloud`): the caller sends one byte carrying its
fds 0, 1 and 2 (SCM_RIGHTS), then a little-endian u32 length and NUL-separated fields: KEY, cwd,
umask (decimal), process group (decimal), argument count, the arguments, then the environment as
NAME=VALUE. The server answers the child's pid as a little-endian i32 (0: run the real gcloud
instead), and later the child's raw wait status as a little-endian i32. If the caller goes away
first, the child is killed.

Stops when its standard input reaches end of file (the rehearsal ended or died), removing SOCKET's
folder.
"""

import os
import selectors
import shutil
import signal
import socket
import struct
import sys

FDS = 3


class Recording(os._Environ):  # pylint: disable=protected-access
    """os.environ, noting which variables are read while `reading`."""

    reading = True
    names = set()

    def __getitem__(self, key):
        if self.reading:
            self.names.add(os.fsdecode(key))
        return super().__getitem__(key)

    def __contains__(self, key):
        if self.reading:
            self.names.add(os.fsdecode(key))
        return super().__contains__(key)

    def __iter__(self):
        if self.reading:
            self.names.add(None)  # every variable
        return super().__iter__()


def prepare(root):
    """Imports what every gcloud call imports, the way lib/gcloud.py does as a script, and
    returns what those imports read: the variables and the files (their state is part of the
    imported modules, so a call may only run here when it would read the same)."""
    environ = os.environ
    os.environ = Recording(environ._data, environ.encodekey, environ.decodekey,  # pylint: disable=protected-access
                           environ.encodevalue, environ.decodevalue)
    opened = set()

    def note(event, args):
        # ('open', (path, mode, flags)): files read, not those written (a log).
        if (Recording.reading and event == 'open' and isinstance(args[0], (str, bytes))
                and isinstance(args[2], int) and args[2] & os.O_ACCMODE == os.O_RDONLY):
            opened.add(os.fsdecode(args[0]))

    sys.addaudithook(note)
    lib = os.path.join(root, 'lib')
    script = os.path.join(lib, 'gcloud.py')
    # As `python lib/gcloud.py` would: the script's folder first on the path, argv[0] the script.
    sys.path[0] = lib
    sys.argv = [script]
    import gcloud as entry  # pylint: disable=import-outside-toplevel
    with entry.gcloud_exception_handler():
        sys.path = entry.reorder_sys_path(sys.path)
        from googlecloudsdk.core.util import encoding  # noqa: F401 pylint: disable=unused-import
    with entry.gcloud_exception_handler():
        entry._fix_google_module()  # pylint: disable=protected-access
        entry._import_gcloud_main()  # pylint: disable=protected-access
    Recording.reading = False
    # Code is the same for every call; devices and /proc are not state a call could change.
    files = sorted(f for f in opened
                   if not f.endswith(('.py', '.pyc', '.so')) and not f.startswith(('/dev/', '/proc/')))
    return entry, script, sorted(Recording.names, key=lambda n: (n is not None, n or '')), files


def content(path):
    try:
        with open(path, 'rb') as f:
            return f.read()
    except OSError:
        return None


def environment_seen(names, env):
    """The values of `names` in `env` (NAME=VALUE entries); every entry if any name is None."""
    pairs = dict(e.partition(b'=')[::2] for e in env)
    if None in names:
        return sorted(pairs.items())
    return [(n, pairs.get(os.fsencode(n))) for n in names]


def read_exact(conn, n):
    data = b''
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise EOFError('the caller closed the connection')
        data += chunk
    return data


def read_call(conn):
    """The caller's fds and fields."""
    msg, anc, _, _ = conn.recvmsg(1, socket.CMSG_SPACE(FDS * 4))
    if not msg:
        raise EOFError('the caller closed the connection')
    fds = []
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.extend(struct.unpack('%di' % (len(data) // 4), data[:len(data) // 4 * 4]))
    (length,) = struct.unpack('<I', read_exact(conn, 4))
    fields = read_exact(conn, length).split(b'\0')
    if len(fds) != FDS:
        for fd in fds:
            os.close(fd)
        raise ValueError('expected the caller\'s three standard streams')
    key, cwd, umask, pgid, argc = fields[:5]
    argc = int(argc)
    args = fields[5:5 + argc]
    env = fields[5 + argc:]
    return fds, key, cwd, int(umask), int(pgid), args, env


def exit_code(code):
    """What the interpreter's exit status would be for `sys.exit(code)`."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xff
    try:
        sys.stderr.write(str(code) + '\n')
    except Exception:  # pylint: disable=broad-except
        pass
    return 1


def run_child(entry, script, fds, cwd, umask, args, env, set_by_imports):
    """Becomes the caller's gcloud; never returns."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for i, fd in enumerate(fds):
            os.dup2(fd, i)
        os.closerange(FDS, os.sysconf('SC_OPEN_MAX'))
        os.chdir(cwd)
        os.umask(umask)
        os.environb.clear()
        for entry_ in env:
            name, sep, value = entry_.partition(b'=')
            if sep and name:
                os.environb[name] = value
        for name, value in set_by_imports.items():
            if value is None:
                os.environb.pop(name, None)
            else:
                os.environb[name] = value
        sys.argv = [script] + [os.fsdecode(a) for a in args]
        try:
            entry.main()
            code = 0
        except SystemExit as e:
            code = exit_code(e.code)
        except KeyboardInterrupt:
            # As the interpreter does: die of the signal that interrupted it.
            flush()
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
        except BaseException:  # pylint: disable=broad-except
            import traceback  # pylint: disable=import-outside-toplevel
            traceback.print_exc()
            code = 1
        # What the interpreter does at exit: wait for threads, run atexit, flush.
        import threading  # pylint: disable=import-outside-toplevel
        import atexit  # pylint: disable=import-outside-toplevel
        threading._shutdown()  # pylint: disable=protected-access
        atexit._run_exitfuncs()  # pylint: disable=protected-access
        flush()
    finally:
        os._exit(code)


def flush():
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except Exception:  # pylint: disable=broad-except
            pass


class Server:
    """The loop: takes calls, forks a gcloud for each, hands each caller its gcloud's status."""

    def __init__(self, argv):
        self.me_file, self.root, self.path, self.key_text = argv[0], argv[1], argv[2], argv[3]
        self.key = os.fsencode(self.key_text)
        if len(argv) > 4:
            # Started again (see `restart`): the same socket, and the calls that waited for it.
            self.listener = socket.socket(fileno=int(argv[4]))
            waiting = [socket.socket(fileno=int(fd)) for fd in argv[5].split(',') if fd]
        else:
            # The socket comes bound and listening as standard output, so that callers can
            # queue from the moment the server is started (they wait in the backlog during the
            # imports).
            self.listener = socket.socket(fileno=os.dup(1))
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 1)
            os.close(null)
            waiting = []
        self.before = dict(os.environb)
        self.entry, self.script, self.names, self.files = prepare(self.root)
        self.own_env = environment_seen(self.names, [k + b'=' + v for k, v in self.before.items()])
        # What the imports themselves set in the environment (gcloud sets some variables as it
        # loads): a fresh gcloud carries those on, so each call gets them on top of its own.
        after = dict(os.environb)
        self.set_by_imports = {k: after.get(k) for k in set(self.before) | set(after)
                               if self.before.get(k) != after.get(k)}
        self.own_files = self.files_now()
        flush()

        self.wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.listener, selectors.EVENT_READ, ('accept',))
        self.sel.register(0, selectors.EVENT_READ, ('parent',))
        self.sel.register(self.wake_r, selectors.EVENT_READ, ('child',))
        self.calls = {}  # pid -> caller's connection, watched for the caller going away
        self.held = []  # callers waiting for the imports to be done again
        self.uid = os.getuid()
        for conn in waiting:
            self.take(conn)
        self.reap()

    def files_now(self):
        return [(f, content(f)) for f in self.files]

    def serve(self):
        while True:
            if self.held and not self.calls:
                self.restart()
            for k, _ in self.sel.select():
                what = k.data
                if what[0] == 'parent':
                    if not os.read(0, 4096):
                        self.stop()
                        return
                elif what[0] == 'child':
                    os.read(self.wake_r, 4096)
                    self.reap()
                elif what[0] == 'gone':
                    self.gone(k.fileobj, what[1])
                elif what[0] == 'accept':
                    conn, _ = self.listener.accept()
                    self.take(conn)

    def take(self, conn):
        """A new caller: held when the files the imports read have changed since, answered
        "cold" when its interpreter settings or what the imports read differ, else served."""
        if self.files_now() != self.own_files:
            if not self.held:
                # Later callers wait in the backlog until the imports are done again.
                self.sel.unregister(self.listener)
            self.held.append(conn)
            return
        conn.settimeout(10)
        try:
            creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize('3i'))
            if struct.unpack('3i', creds)[1] != self.uid:
                raise ValueError('another user')
            fds, their_key, cwd, umask, pgid, args, env = read_call(conn)
        except (OSError, ValueError, EOFError, struct.error):
            conn.close()
            return
        if their_key != self.key or environment_seen(self.names, env) != self.own_env:
            for fd in fds:
                os.close(fd)
            answer(conn, 0)
            conn.close()
            return
        go_r, go_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(go_w)
            # Wait until the parent has put this child in the caller's process group, so that
            # a signal to the caller's group reaches gcloud as it would.
            os.read(go_r, 1)
            os.close(go_r)
            self.listener.close()
            conn.close()
            run_child(self.entry, self.script, fds, cwd, umask, args, env, self.set_by_imports)
        os.close(go_r)
        for fd in fds:
            os.close(fd)
        try:
            os.setpgid(pid, pgid)
            # The caller learns the pid before gcloud starts: a caller that gave up waiting
            # gets no answer, and then its call must not run at all.
            taken = answer(conn, pid)
        except OSError:
            # Not in the caller's session, where a signal to the caller's group would miss it:
            # the caller runs the real gcloud instead.
            taken = False
            answer(conn, 0)
        if not taken:
            os.kill(pid, signal.SIGKILL)
            os.close(go_w)
            os.waitpid(pid, 0)
            conn.close()
            return
        os.write(go_w, b'g')
        os.close(go_w)
        conn.setblocking(False)
        self.calls[pid] = conn
        self.sel.register(conn, selectors.EVENT_READ, ('gone', pid))

    def reap(self):
        while self.calls:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn = self.calls.pop(pid, None)
            if conn is not None:
                if conn.fileno() in self.sel.get_map():
                    self.sel.unregister(conn)
                answer(conn, status)
                conn.close()

    def gone(self, conn, pid):
        """The caller's connection is readable: it went away (killed) while its gcloud runs,
        so its gcloud goes too; the exit is reaped as any other."""
        try:
            if conn.recv(1):
                return
        except BlockingIOError:
            return
        except OSError:
            pass
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
        self.sel.unregister(conn)

    def restart(self):
        """Imports again, for the held callers and those after them, who would see the files
        the imports read as they are now (`gcloud config set` changes the configuration)."""
        os.set_inheritable(self.listener.fileno(), True)
        for conn in self.held:
            os.set_inheritable(conn.fileno(), True)
        flags = sys.orig_argv[:sys.orig_argv.index(self.me_file)]
        held = ','.join(str(c.fileno()) for c in self.held)
        # In the environment it started with, not the one the imports changed.
        os.execve(sys.executable, flags + [self.me_file, self.root, self.path, self.key_text,
                                           str(self.listener.fileno()), held], self.before)

    def stop(self):
        for pid in list(self.calls):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        # Its folder too (link, socket, this script): after a `kill -9` of the rehearsal
        # nobody else would remove it.
        shutil.rmtree(os.path.dirname(self.path), ignore_errors=True)


def answer(conn, value):
    try:
        conn.sendall(struct.pack('<i', value))
        return True
    except OSError:
        return False


if __name__ == '__main__':
    Server(sys.argv).serve()
