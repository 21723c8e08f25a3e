"""What the benches share: running one command in its own process and measuring it, and the machine's load.

Every bench that times a diffad command runs it through `measure`, so that "wall time" and "peak memory" mean the
same thing in every table (`bench_product.py`, `bench_benchmark.py`).
"""
from __future__ import annotations
import os, subprocess, threading, time
from dataclasses import dataclass, field
from pathlib import Path

def hwm_gb(pid:int) -> float|None:
    "The peak resident memory so far (VmHWM, GB) of a running process on Linux; None when it cannot be read."
    try: return next(int(l.split()[1]) for l in Path(f'/proc/{pid}/status').read_text().splitlines() if l.startswith('VmHWM:')) / 2**20
    except (OSError, StopIteration, ValueError): return None

@dataclass
class Measured:
    "One command's wall seconds, peak resident memory (GB, `os.wait4`), exit code, error output and peak-so-far samples."
    wall: float
    peak_gb: float
    code: int
    stderr: str
    samples: list[tuple[float, float]] = field(default_factory=list)   # (epoch seconds, peak GB so far), when sampled

def measure(args:list[str], cwd:Path|None=None, every:float|None=None) -> Measured:
    "Run `args` on the CPU (DIFFAD_DEVICE=cpu) in its own process; with `every`, also sample its peak memory so far every `every` seconds."
    t0, samples, stop = time.perf_counter(), [], threading.Event()
    p = subprocess.Popen(args, cwd=cwd, env=dict(os.environ, DIFFAD_DEVICE='cpu'), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    def sample():
        while not stop.wait(every):
            gb = hwm_gb(p.pid)
            if gb is not None: samples.append((time.time(), gb))
    th = threading.Thread(target=sample, daemon=True) if every else None
    if th: th.start()
    err = p.stderr.read().decode(errors='replace')   # read while it runs: a full pipe would block it
    _, status, ru = os.wait4(p.pid, 0)
    if th: stop.set(); th.join()
    return Measured(time.perf_counter() - t0, ru.ru_maxrss / 2**20, os.waitstatus_to_exitcode(status), err[-3000:], samples)   # ru_maxrss is in KB on Linux

def load_line(when:str) -> str:
    "The one-minute load average, printed before and after a bench: timings on a busy machine are not comparable."
    return f'load average {when}: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores'
