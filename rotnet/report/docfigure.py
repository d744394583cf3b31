"""The README's picture of the report, drawn from the newest committed quick result (never from a
DVC output): per backbone, the probe's test accuracy on every frozen feature map and head, the
plot the report opens with. `make docs` redraws it; the docs test fails when it is stale."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

FIGURE = Path("docs") / "report-probe.svg"
HEADS = ("nonlinear", "linear", "conv", "knn")


def probe_layers(project: Path) -> dict[str, dict[str, dict[str, dict[str, float]]]]:
    """dataset -> backbone -> map -> head -> test accuracy, from a finished study's probe metrics."""
    found: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
    for path in sorted((project / "metrics" / "runs").glob("*/*/probe.json")):
        metrics = json.loads(path.read_text())
        layers = {m: {h: r["test_acc"] for h, r in heads.items()} for m, heads in metrics["layers"].items()}
        for m, r in metrics.get("knn", {}).items():
            layers.setdefault(m, {})["knn"] = r["test_acc"]
        found.setdefault(path.parent.parent.name, {})[path.parent.name] = layers
    return found


def draw(data: dict[str, Any]) -> bytes:
    """The SVG of ``data`` (a quick result with ``probe_layers``), byte-identical on every run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(d, b, maps) for d, bbs in data["probe_layers"].items() for b, maps in bbs.items()]
    with plt.rc_context({"svg.hashsalt": "rotnet", "svg.fonttype": "path", "font.family": "DejaVu Sans"}):
        fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 3.4), squeeze=False)
        for ax, (dataset, backbone, maps) in zip(axes[0], panels, strict=True):
            names = list(maps)
            for head in HEADS:
                ys = [maps[m].get(head) for m in names]
                xs = [i for i, y in enumerate(ys) if y is not None]
                if xs:
                    ax.plot(xs, [ys[i] for i in xs], marker="o", label=head)
            supervised = data["summary"].get(dataset, {}).get(backbone, {}).get("supervised")
            if supervised is not None:
                ax.axhline(supervised, color="gray", linestyle="--", label="supervised")
            ax.set_xticks(range(len(names)), names)
            ax.set_ylabel("test accuracy (%)")
            ax.set_title(f"{dataset} / {backbone}: probes on frozen RotNet maps", fontsize=10)
            ax.legend(fontsize=7)
        fig.text(0.01, 0.01, f"make quick, {data['date']}, {data['device']}", fontsize=7, color="gray")
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
        plt.close(fig)
    return buf.getvalue()
