# Runs a command on a pseudo-terminal and plays a short script against it, for the tests of
# cairn's terminal questions (a real TTY: isatty holds, raw mode and Ctrl-C behave as for a user).
#   python3 run-on-pty.py '<json: {"argv": [...], "env": {...}, "steps": [[wait_for, send], ...]}>'
# Each step waits until `wait_for` has appeared in the output (10 s at most), then writes `send`.
# Prints one JSON line: {"status": exit status (128+N if killed by signal N), "output": text}.
import json, os, pty, select, sys, time

spec = json.loads(sys.argv[1])
pid, fd = pty.fork()
if pid == 0:
    os.execvpe(spec["argv"][0], spec["argv"], spec["env"])

out = b""

def read_some(timeout):
    global out
    r, _, _ = select.select([fd], [], [], timeout)
    if not r:
        return False
    try:
        data = os.read(fd, 65536)
    except OSError:
        return None
    if not data:
        return None
    out += data
    return True

for wait_for, send in spec["steps"]:
    deadline = time.time() + 10
    while wait_for.encode() not in out and time.time() < deadline:
        if read_some(0.1) is None:
            break
    os.write(fd, send.encode())

# read until the child closes the terminal (it exited); kill it after 30 s
deadline = time.time() + 30
while read_some(0.1) is not None:
    if time.time() > deadline:
        os.kill(pid, 9)
        break
_, status = os.waitpid(pid, 0)
code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
print(json.dumps({"status": code, "output": out.decode("utf-8", "replace")}))
