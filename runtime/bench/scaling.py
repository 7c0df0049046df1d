"""MoPoE's time per step against the number of modalities M (the curve in docs/benchmarks.md).

The specs are specs/mopoe_polymnist.mms with its five identical PolyMNIST modalities replaced by
M of them (nothing else changes), so the 2^M - 1 subset posteriors grow with M exactly as the
method says. Each M is one `mmspec bench` run (optionally against MultiVae, alternating).

    python -m runtime.bench.scaling --modalities 2-8 --batch 16 --steps 3 [--against multivae]
"""
from __future__ import annotations

import argparse
import json
import re
import tempfile
from pathlib import Path

from ..errors import RunError
from .run import BenchOptions, bench

BASE = Path(__file__).resolve().parents[2] / "specs" / "mopoe_polymnist.mms"
MODALITY = re.compile(r"^modality\s+(\w+)\s*:.*$", re.MULTILINE)


def with_modalities(text: str, m: int) -> str:
    """The spec text with its modality lines replaced by m copies of the first (named m0..m{m-1})."""
    lines = list(MODALITY.finditer(text))
    if not lines:
        raise RunError("the base spec declares no modality")
    first, name = lines[0].group(0), lines[0].group(1)
    copies = "\n".join(re.sub(rf"\b{re.escape(name)}\b", f"m{i}", first, count=1) for i in range(m))
    head, tail = text[:lines[0].start()], text[lines[-1].end():]
    model = re.search(r"^model\s+(\w+)", text, re.MULTILINE).group(1)
    return re.sub(rf"^model\s+{model}\b", f"model {model}_m{m}", head + copies + tail, flags=re.MULTILINE)


def scaling(ms: list[int], *, base: Path = BASE, log=print, **options) -> list[dict]:
    """One bench result per M (options as BenchOptions' fields)."""
    text = base.read_text()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for m in ms:
            spec = Path(tmp) / f"mopoe_m{m}.mms"
            spec.write_text(with_modalities(text, m))
            result = bench(BenchOptions(spec=spec, **options), log=log)
            result["modalities"], result["subsets"] = m, 2 ** m - 1
            results.append(result)
            log(table_row(result))
    return results


def table_row(result: dict) -> str:
    """| M | subsets | mmspec ms/step | (MultiVae ms/step | ratio) |"""
    t = result["timings"]
    row = f"| {result['modalities']} | {result['subsets']} | {t['mmspec']['median_step_ms']:.1f} |"
    if "multivae" in t:
        row += f" {t['multivae']['median_step_ms']:.1f} | {result['ratio_vs_multivae']:.2f} |"
    return row


def _range(text: str) -> list[int]:
    lo, _, hi = text.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--modalities", default="2-8", help="M range, e.g. 2-8")
    ap.add_argument("--base", type=Path, default=BASE)
    ap.add_argument("--device", choices=["cuda", "cpu"])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--dim", default=None, help="latent size (default: the spec's)")
    ap.add_argument("--against", choices=["multivae"])
    ap.add_argument("--out", type=Path)
    a = ap.parse_args(argv)
    overrides = {"dim": a.dim} if a.dim else {}
    results = scaling(_range(a.modalities), base=a.base, device=a.device, batch=a.batch, steps=a.steps,
                      warmup=a.warmup, against=a.against, overrides=overrides, round_steps=1)
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
