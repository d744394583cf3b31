"""make gpu-check's printed summary: the throughput table, the cost table with the study's
GPU-hours, and the NIN study beside the paper's figures."""

from __future__ import annotations

from benchmarks.gpu.common import num
from benchmarks.gpu.costs_phase import METHODS
from benchmarks.gpu.throughput_phase import BAR_SAMPLES_PER_S
from rotnet.report.gpu_check_schema import Costs, GpuCheckResult


def cost_summary(costs: Costs) -> list[str]:
    """The per-backbone table and the study's GPU-hours, for the printed summary."""
    lines = ["", f"per-backbone training cost, committed recipes and batch, micro_batch auto: {costs['status']}"]
    table = costs.get("table") or {}
    if not table:
        return lines
    lines.append(f"  {'backbone':16s} {'sup. img/s':>10s} {'micro':>5s} {'peak GiB':>8s} {'rot. img/s':>10s} "
                 f"{'samples/s':>10s} {'micro':>5s} {'peak GiB':>8s}")  # fmt: skip
    unmeasured = []
    for b, tasks in table.items():
        sup, rot = tasks.get("supervised") or {}, tasks.get("rotation") or {}
        lines.append(
            f"  {b:16s} {num(sup.get('images_per_s'), '10.1f')} {num(sup.get('micro_batch'), '5d')} "
            f"{num(sup.get('peak_gib'), '8.2f')} {num(rot.get('images_per_s'), '10.1f')} "
            f"{num(rot.get('samples_per_s'), '10.1f')} {num(rot.get('micro_batch'), '5d')} "
            f"{num(rot.get('peak_gib'), '8.2f')}"
        )
        unmeasured += [
            f"  {b} {t}: {e.get('error') or e.get('skipped')}"
            for t, e in tasks.items()
            if "error" in e or "skipped" in e
        ]
    methods = [(b, m, t[m]) for b, t in table.items() for m in METHODS if "images_per_s" in (t.get(m) or {})]
    if methods:
        lines.append(f"  {'backbone':16s} {'method':8s} {'img/s':>10s} {'views/s':>10s} {'batch':>5s} {'peak GiB':>8s}")
        lines += [
            f"  {b:16s} {m:8s} {num(e.get('images_per_s'), '10.1f')} {num(e.get('samples_per_s'), '10.1f')} "
            f"{num(e.get('batch'), '5d')} {num(e.get('peak_gib'), '8.2f')}"
            for b, m, e in methods
        ]
    hours = costs.get("study_gpu_hours") or {}
    lines += unmeasured
    if hours.get("per_backbone"):
        lines.append("  the paper-scale study's GPU-hours, supervised + RotNet (+ SimCLR, BYOL) training steps only:")
        for b, h in hours["per_backbone"].items():
            per = ", ".join(f"{d} {v['total']:.2f}" for d, v in h["datasets"].items())
            lines.append(f"    {b:16s} {per}: {h['total']:.2f} h")
            for m in METHODS:
                if any(m in v for v in h["datasets"].values()):
                    part = ", ".join(f"{d} {v[m]:.2f}" for d, v in h["datasets"].items() if m in v)
                    lines.append(f"      {m} ({h['epochs'][m]} epochs) {part} h")
        missing = f" (not measured: {', '.join(hours['unmeasured'])})" if hours["unmeasured"] else ""
        lines.append(f"    {'all measured':16s} {hours['total']:.2f} h{missing}")
    return lines


def summary(res: GpuCheckResult) -> str:
    lines = [f"gpu-check on {res['device']} ({res['date']}), {res['elapsed_s']:.0f} s of {res['budget_s']:.0f}: "
             f"{res['status']}", "", "throughput, source images/s (rotation: x4 rotated samples/s; SimCLR, BYOL: "
             "x2 views/s):",
             f"  {'workload':17s} {'plain':>10s} {'engine':>10s} {'model-only':>10s} {'eager eng.':>10s} "
             f"{'eng/plain':>9s} {'eng/model':>9s}"]  # fmt: skip
    for w, t in res["throughput"]["table"].items():
        lines.append(
            f"  {w:17s} {num(t.get('plain'), '10.0f')} {num(t.get('engine'), '10.0f')} "
            f"{num(t.get('model_only'), '10.0f')} {num(t.get('engine_eager'), '10.0f')} "
            f"{num(t.get('engine_over_plain'), '8.2f')}x {num(t.get('engine_over_model'), '9.0%')}"
        )
        if t.get("ceiling_broken"):
            lines.append(f"  WARNING: MEASUREMENT BUG: {w}: model-only is not a ceiling (see throughput.py)")
    bar = res.get("bar") or {}
    if bar.get("engine_samples_per_s"):
        lines.append(
            f"  bar: 200-epoch NIN pretraining in 5 min = {BAR_SAMPLES_PER_S:,.0f} rotated samples/s; the engine "
            f"gives {bar['engine_samples_per_s']:,.0f} ({bar['fraction']:.0%}): 200 epochs in "
            f"{bar['nin_200_epochs_min']:.1f} min"
        )
    lines += cost_summary(res["costs"])
    st = res["study"]
    plan, pre, pr = st.get("plan"), st.get("pretrain"), st.get("probe")
    lines += ["", f"paper-protocol NIN study ({st['data']}):"]
    if plan:
        lines.append(
            f"  pretraining {plan['pretrain_epochs']} epochs (paper 200), milestones {plan['pretrain_milestones']}; "
            f"probes {plan['probe_epochs']} epochs (paper 100); compile {'on' if plan['compile'] else 'off'}"
        )
    if pre:
        lines.append(f"  rotation test accuracy {pre['rotation_test_acc']:.2f}% ({pre['seconds']:.0f} s)")
    if pr:
        for head in ("nonlinear", "conv"):
            got = (pr["block2"].get(head) or {}).get("test_acc")
            lines.append(
                f"  block2 {head:9s} test {num(got, '.2f')}%   paper {pr['paper_test_acc'][f'block2/{head}']:.2f}%"
            )
    if not pr:
        lines.append(f"  not finished: {st['status']}")
    return "\n".join(lines)
