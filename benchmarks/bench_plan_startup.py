"""Cold-start time of `scaling plan --flops 1e21` against `python -c "import numpy"`.

Runs each command in a fresh subprocess `--repeats` times (alternating, after one warm-up each)
and prints the medians and their ratio. Goal: the plan well under a second on a
2-core machine. To see where the time goes: `python -X importtime -m scaling.cli ...`.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

PLAN = [sys.executable, "-c", "import sys; from scaling.cli import main; sys.argv = ['scaling', 'plan', '--flops', '1e21']; main()"]
NUMPY = [sys.executable, "-c", "import numpy"]


def wall_seconds(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    repeats = parser.parse_args().repeats
    wall_seconds(PLAN), wall_seconds(NUMPY)  # warm the OS file cache
    plan_times, numpy_times = [], []
    for _ in range(repeats):
        plan_times.append(wall_seconds(PLAN))
        numpy_times.append(wall_seconds(NUMPY))
    plan_median, numpy_median = statistics.median(plan_times), statistics.median(numpy_times)
    print(f"scaling plan --flops 1e21: median {plan_median:.3f} s over {repeats} runs")
    print(f"python -c 'import numpy':  median {numpy_median:.3f} s over {repeats} runs")
    print(f"ratio: {plan_median / numpy_median:.2f}x")


if __name__ == "__main__":
    main()
