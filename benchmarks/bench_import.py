"""Import time: `import imageshim` (and reaching imageshim.OpenAI) vs `import httpx, pydantic` (the floor)
vs `import openai`, each in fresh interpreters, median of several runs.

Targets: <= 1.5x the floor and <= 0.3x `import openai`.
"""

from __future__ import annotations

import importlib.util
import statistics
import subprocess
import sys

from _common import parse, table

CASES = {
    "floor: import httpx, pydantic": "import httpx, pydantic",
    "import imageshim": "import imageshim",
    "import imageshim; imageshim.OpenAI": "import imageshim; imageshim.OpenAI",
    "import openai": "import openai",
}


def once(statement: str) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return float(out)


def measure(cases: dict[str, str], runs: int) -> dict[str, float]:
    """Median seconds of each statement in ``runs`` fresh interpreters, the cases taking turns."""
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(runs):
        for name, statement in cases.items():
            samples[name].append(once(statement))
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    args = parse(__doc__ or "")
    runs = 3 if args.quick else 21
    have_openai = importlib.util.find_spec("openai") is not None
    results = measure({k: v for k, v in CASES.items() if have_openai or "openai" not in v}, runs)
    floor = results["floor: import httpx, pydantic"]
    sdk = results.get("import openai")
    rows = []
    for name, seconds in results.items():
        ratio = f"{seconds / floor:.2f}x floor"
        if sdk:
            ratio += f", {seconds / sdk:.2f}x openai"
        rows.append((name, f"{seconds * 1000:.1f} ms", ratio))
    table(
        f"import time (median of {runs} fresh interpreters)",
        rows,
        "targets: imageshim <= 1.5x floor and <= 0.3x openai",
    )


if __name__ == "__main__":
    main()
