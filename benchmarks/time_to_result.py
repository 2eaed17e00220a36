"""Wall clock of the jaxmh command from the shell: first run, repeated run, and with the cache off.

Issue 11: compilation is most of a small fit's wall time; the command keeps compiled programs
in a persistent cache (jaxmh.compilation_cache).  For each command this runs, in a fresh
process each time and from an empty working folder:

* ``off``:      with the cache turned off (``JAXMH_CACHE_DIR=off``), as before issue 11;
* ``first``:    with an empty cache folder (what a new user's first run costs);
* ``repeated``: the same command again, with the cache the first run filled.

Usage: ``python benchmarks/time_to_result.py [--json out.json]`` (about 4 minutes).
Run nothing else on the machine meanwhile.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

from _common import machine, write_json

COMMANDS = {
    "jaxmh compare": ["compare", "--no-plot"],
    "jaxmh fit radon": ["fit", "radon", "--no-plots"],
    "jaxmh fit reaction_times": ["fit", "reaction_times", "--no-plots"],
}


def _run(args: list, cache: str, work: str) -> float:
    env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
    env["JAXMH_CACHE_DIR"] = cache
    start = time.perf_counter()
    subprocess.run([shutil.which("jaxmh") or "jaxmh", *args], cwd=work, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    rows = {}
    for name, argv in COMMANDS.items():
        with tempfile.TemporaryDirectory() as tmp:
            cache, work = os.path.join(tmp, "cache"), os.path.join(tmp, "work")
            os.makedirs(work)
            off = _run(argv, "off", work)
            first = _run(argv, cache, work)
            repeated = min(_run(argv, cache, work) for _ in range(2))
        rows[name] = {"off": off, "first": first, "repeated": repeated}
        print(f"{name:<26} cache off {off:6.1f} s   first {first:6.1f} s   repeated {repeated:6.1f} s   "
              f"speed-up {first / repeated:4.1f}x", flush=True)
    if args.json:
        write_json(args.json, {"machine": machine(), "seconds": rows})


if __name__ == "__main__":
    sys.exit(main())
