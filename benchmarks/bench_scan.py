"""``imageshim scan`` on a generated tree of 5,000 Python and 5,000 TypeScript files, against ``git grep -n``
for the same model ids on the same tree, in the same run.

Target: scan <= 10x grep's time, while parsing every file that could hold a finding (grep parses nothing).
The tree is ordinary application code (classes, functions, string tables, imports); 3% of the files make an
image call and 2% hold a model id elsewhere, as in the projects of research/users.md (22 sites in one).
Both run as commands from a cold process, as CI runs them; the scan's in-process time is shown as well.
"""

from __future__ import annotations

import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from _common import parse, table
from imageshim._core.catalog import builtin_catalog
from imageshim._core.config import load_config
from imageshim._scan.scan import scan

PY_BODY = '''"""Service module {i}: orders, invoices and the helpers around them."""

from __future__ import annotations

import dataclasses
import logging
from decimal import Decimal

log = logging.getLogger(__name__)
STATUSES = ("new", "paid", "shipped", "cancelled", "refunded-{i}")


@dataclasses.dataclass
class Order{i}:
    id: int
    customer: str
    total: Decimal
    status: str = "new"

    def pay(self, amount: Decimal) -> None:
        if amount < self.total:
            raise ValueError(f"order {{self.id}}: {{amount}} < {{self.total}}")
        self.status = "paid"
        log.info("order %s paid", self.id)


def summarise(orders: list[Order{i}]) -> dict[str, int]:
    out: dict[str, int] = {{}}
    for order in orders:
        out[order.status] = out.get(order.status, 0) + 1
    return out
'''

PY_CALL = """

def banner_{i}(client, prompt: str) -> str:
    resp = client.images.generate(
        model="dall-e-3", prompt=prompt, size="1792x1024", quality="hd", style="vivid", response_format="url"
    )
    return resp.data[0].url
"""

TS_BODY = """// Component {i}: a table of orders with filters.
import {{ useMemo, useState }} from "react";

export interface Order{i} {{
  id: number;
  customer: string;
  total: number;
  status: "new" | "paid" | "shipped" | "cancelled";
}}

const LABELS: Record<string, string> = {{ new: "New", paid: "Paid", shipped: "Shipped {i}" }};

export function summarise{i}(orders: Order{i}[]): Record<string, number> {{
  const out: Record<string, number> = {{}};
  for (const order of orders) {{
    out[order.status] = (out[order.status] ?? 0) + 1;
  }}
  return out;
}}

export function useOrders{i}(orders: Order{i}[]) {{
  const [filter, setFilter] = useState("all");
  const shown = useMemo(() => orders.filter((o) => filter === "all" || o.status === filter), [orders, filter]);
  return {{ shown, setFilter, label: (s: string) => LABELS[s] ?? s }};
}}
"""

TS_CALL = """
export async function banner{i}(client: any, prompt: string): Promise<string> {{
  const resp = await client.images.generate({{ model: "dall-e-3", prompt, size: "1792x1024", quality: "hd" }});
  return resp.data[0].url;
}}
"""

MODEL_LINE = {"py": 'IMAGE_MODEL = "gpt-image-1.5"\n', "ts": 'export const IMAGE_MODEL = "gpt-image-1.5";\n'}


def make_tree(root: Path, per_language: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    for i in range(per_language):
        folder = root / "app" / f"pkg{i // 100}"
        folder.mkdir(parents=True, exist_ok=True)
        roll = rng.random()
        py, ts = PY_BODY.format(i=i), TS_BODY.format(i=i)
        if roll < 0.03:
            py, ts = py + PY_CALL.format(i=i), ts + TS_CALL.format(i=i)
        elif roll < 0.05:
            py, ts = py + MODEL_LINE["py"], ts + MODEL_LINE["ts"]
        (folder / f"module_{i}.py").write_text(py, encoding="utf-8")
        (folder / f"component_{i}.ts").write_text(ts, encoding="utf-8")


def timed(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise RuntimeError(f"{command[0]} failed ({done.returncode}): {done.stderr.decode()[-400:]}")
    return elapsed


def main() -> None:
    args = parse(__doc__.splitlines()[0])
    per_language, rounds = (500, 1) if args.quick else (5_000, 3)
    grep = shutil.which("git")
    if grep is None:
        print("bench_scan: git is not installed; nothing to compare against")
        return
    names = builtin_catalog().names()
    with tempfile.TemporaryDirectory(prefix="imageshim-scan-bench-") as tmp:
        root = Path(tmp)
        make_tree(root, per_language)
        grep_cmd = [
            "git",
            "grep",
            "-n",
            "--no-index",
            "-F",
            *(arg for n in names for arg in ("-e", n)),
            "--",
            ".",
        ]
        scan_cmd = [sys.executable, "-m", "imageshim", "scan", ".", "--format", "json", "--fail-on", "never"]
        grep_times, scan_times, inproc_times = [], [], []
        findings = 0
        for _ in range(rounds):
            grep_times.append(timed(grep_cmd, root))
            scan_times.append(timed(scan_cmd, root))
            started = time.perf_counter()
            report = scan([root], on=date.today(), config=load_config({}), base=root)
            inproc_times.append(time.perf_counter() - started)
            findings = len(report.findings)
        g, s, p = (statistics.median(t) for t in (grep_times, scan_times, inproc_times))
        table(
            f"scan: {per_language:,} Python + {per_language:,} TypeScript files ({findings} findings)",
            [
                ("git grep -n (baseline)", f"{g * 1000:.0f} ms", "1.00x"),
                ("imageshim scan (command)", f"{s * 1000:.0f} ms", f"{s / g:.2f}x"),
                ("imageshim scan (in-process)", f"{p * 1000:.0f} ms", f"{p / g:.2f}x"),
            ],
            "target: the command <= 10x git grep (medians of "
            f"{rounds} round{'s' if rounds > 1 else ''}; same tree, same run)",
        )


if __name__ == "__main__":
    main()
