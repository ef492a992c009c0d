"""Evaluator speed: seconds to detect and score 10,000 noisy 32×32 images (median of --repeats runs)."""
import argparse
import time

import numpy as np

from bumpdiff.analysis.evaluate import score
from bumpdiff.core.data import render

if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    rng = np.random.default_rng(1)
    c = rng.uniform(0, 32, (10000, 2))
    img = np.clip(render(c) + rng.normal(0, 0.05, (10000, 1, 32, 32)).astype(np.float32), -1, 1)
    times = []
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        score(img, c)
        times.append(time.perf_counter() - t0)
    print(f"score() of 10,000 images: median {np.median(times):.3f} s over {a.repeats} runs")
