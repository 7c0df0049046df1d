"""The compiler against the number of modalities M: `check` and `explain` time (docs/benchmarks.md).

The specs are specs/mopoe_polymnist.mms with M copies of its modality (runtime.bench.scaling's
`with_modalities`), so the 2^M - 1 subset posteriors, KL terms and infer rules grow as the method
says. Times are in-process after the imports (the CLI adds ~1.5 s of Python and torch imports),
wall clock and CPU (the CPU time is what a shared, loaded machine cannot inflate); explain is
`Explanation.of` (model family, cost per step and its growth in M) plus the Unicode printout,
folded as `mmspec explain` prints it.

    python -m runtime.bench.compiler --modalities 2-16 [--out table.md]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from mmspec.check.checker import check_text
from mmspec.explain.render import Explanation, render_text

from .scaling import BASE, _range, with_modalities


def compiler_times(m: int, base: Path = BASE) -> dict:
    """check and explain seconds, and the printout's size, for the base spec with m modalities."""
    text = with_modalities(base.read_text(), m)
    wall, cpu = time.perf_counter(), time.process_time()
    program = check_text(text, f"<mopoe M={m}>")
    check_wall, check_cpu = time.perf_counter() - wall, time.process_time() - cpu
    wall, cpu = time.perf_counter(), time.process_time()
    printout = render_text(Explanation.of(program))
    return {"modalities": m, "subsets": 2 ** m - 1, "check_s": check_wall, "check_cpu_s": check_cpu,
            "explain_s": time.perf_counter() - wall, "explain_cpu_s": time.process_time() - cpu,
            "explain_lines": len(printout.splitlines())}


def table(rows: list[dict]) -> str:
    out = ["| M | subsets | check (s) | check CPU (s) | explain (s) | explain CPU (s) | explain lines |",
           "|---|---|---|---|---|---|---|"]
    out += [f"| {r['modalities']} | {r['subsets']:,} | {r['check_s']:.2f} | {r['check_cpu_s']:.2f} | "
            f"{r['explain_s']:.2f} | {r['explain_cpu_s']:.2f} | {r['explain_lines']} |" for r in rows]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--modalities", default="2-16", help="M range, e.g. 2-16")
    ap.add_argument("--base", type=Path, default=BASE)
    ap.add_argument("--out", type=Path, help="Also write the table (markdown) here.")
    a = ap.parse_args(argv)
    rows = []
    for m in _range(a.modalities):
        rows.append(compiler_times(m, a.base))
        r = rows[-1]
        print(f"M={m:>2}  subsets {r['subsets']:>6}  check {r['check_s']:6.2f} s (CPU {r['check_cpu_s']:.2f})"
              f"  explain {r['explain_s']:6.2f} s (CPU {r['explain_cpu_s']:.2f})",
              flush=True)
    print(table(rows))
    if a.out:
        a.out.write_text(table(rows) + "\n")


if __name__ == "__main__":
    main()
