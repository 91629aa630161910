"""FLOP-count fidelity against timm's published GMACs; the studies' architectures next to their papers.

``run`` (``make bench``): medzoo's counter (fvcore + the SDPA handle) on timm's own
models must stay within 2% of timm's published GMACs (resnet50, efficientnet_b0,
tf_efficientnet_b2 at 260, vit_base_patch16_224, vgg16).

``python -m benchmarks.bench_complexity`` also prints the studies' table:

Each row is built with the study's head and class count and measured at the
input size the paper reports its FLOPs for (224, or 299 for Xception). The
baseline ratios compare each paper's own model with its base, measured in the
same run: EfficientNet-DSP vs EfficientNetV2-S, Xception-C vs Xception,
AERNet vs ResNet-50 (params, GMACs and batch-1 CPU latency; AERNet's paper
reports 24.1 ms vs 22.4 ms, a ratio of 1.08).
"""

from __future__ import annotations

from benchmarks._common import Options, Ratio

#: timm's published GMACs (its benchmark tables and model cards), at the given input side
TIMM_GMACS = {
    "resnet50": (224, 4.11),
    "efficientnet_b0": (224, 0.40),
    "tf_efficientnet_b2": (260, 1.02),
    "vit_base_patch16_224": (224, 17.58),
    "vgg16": (224, 15.47),
}

#: (study, family, classes, head, kwargs, input side, paper params (M), paper GFLOPs)
ROWS = [
    ("brain", "efficientnet_b0", 3, "gap_dropout", {}, 224, 4.05, 0.96),
    ("brain", "efficientnet_b1", 3, "gap_dropout", {}, 224, 6.58, 1.42),
    ("brain", "efficientnet_b2", 3, "gap_dropout", {}, 224, 7.77, 1.64),
    ("brain", "efficientnet_b3", 3, "gap_dropout", {}, 224, 10.79, 2.38),
    ("brain", "efficientnet_b4", 3, "gap_dropout", {}, 224, 17.70, 3.72),
    ("brain", "vgg16", 3, "gap_dropout", {}, 224, 58.34, 30.71),
    ("brain", "resnetv2_152", 3, "gap_dropout", {}, 224, 17.68, 25.36),
    ("brain", "vit_base_patch16_224", 3, "gap_dropout", {}, 224, 86.84, 16.85),
    ("ALL", "efficientnetv2_dsp", 4, "linear", {}, 224, 17.63, 1.96),
    ("ALL", "efficientnetv2_s", 4, "linear", {}, 224, 21.45, 2.90),
    ("ALL", "shufflenet_v2_x1_0", 4, "linear", {}, 224, 1.37, 0.04),
    ("ALL", "shufflenet_v2_x0_5", 4, "linear", {}, 224, 1.37, 0.04),
    ("ALL", "resnet34", 4, "linear", {}, 224, 21.79, 3.67),
    ("ALL", "vit_base_patch16_224", 4, "linear", {}, 224, 57.30, 11.28),
    ("ALL", "efficientnet_b0", 4, "linear", {}, 224, 5.28, 0.41),
    ("ALL", "googlenet", 4, "linear", {}, 224, 6.62, 1.51),
    ("ALL", "alexnet", 4, "linear", {}, 224, 61.10, 0.71),
    ("ALL", "alexnet", 4, "linear", {"fc_layers": True}, 224, 61.10, 0.71),
    ("mammo", "xception", 1, "mlp_bn", {}, 299, None, None),
    ("mammo", "xception_c", 1, "mlp_bn", {}, 299, 24.9, None),
    ("mammo", "xception_c", 1, "mlp_bn", {"hidden": (1024, 1024)}, 299, 24.9, None),
    ("glioma", "googlenet", 2, "fc_1024_128", {}, 224, None, None),
    ("cxr", "resnet50", 4, "fc_relu_dropout", {}, 224, None, None),
    ("cxr", "aernet", 4, "fc_relu_dropout", {}, 224, 26.2, None),
]
PAIRS = [("efficientnetv2_dsp", "efficientnetv2_s"), ("xception_c", "xception"), ("aernet", "resnet50")]


def measure_rows(rows: list = ROWS, *, latency: bool = True) -> list[dict]:
    import torch

    from medzoo.zoo import create_model, measure

    out = []
    for study, name, classes, head, kw, side, paper_params, paper_gflops in rows:
        torch.manual_seed(0)
        dropout = 0.0 if head == "linear" else 0.5
        model = create_model(name, num_classes=classes, head=head, dropout=dropout, **kw)
        m = measure(model, (3, side, side), batch_sizes=(1,), repeats=5 if latency else 0)
        out.append(
            {
                "study": study,
                "family": name,
                "classes": classes,
                "head": head,
                "kw": kw,
                "side": side,
                "params_m": m["params"] / 1e6,
                "gmacs": m["gmacs"],
                "latency_ms": m["latency_ms"].get("1"),
                "paper_params_m": paper_params,
                "paper_gflops": paper_gflops,
            }
        )
    return out


def run(opts: Options) -> list[Ratio]:
    """|medzoo's GMACs / timm's published - 1| per model (goal <= 0.02); one traced forward each."""
    import timm
    import torch

    from medzoo.zoo.architectures.complexity import count_macs

    torch.set_num_threads(1)
    names = ["resnet50", "efficientnet_b0"] if opts.quick else list(TIMM_GMACS)
    out = []
    for name in names:
        side, published = TIMM_GMACS[name]
        got = count_macs(timm.create_model(name), (3, side, side))
        out.append(
            Ratio(
                name=f"FLOPs: |{name}@{side} / timm - 1|",
                value=abs(got["gmacs"] / published - 1),
                goal=0.02,
                better="<=",
                samples=(abs(got["gmacs"] / published - 1),),
                note=f"{got['gmacs']:.3f} vs {published} GMACs, op coverage {got['op_coverage']:.2f}",
            )
        )
    return out


def main() -> None:
    import torch

    for r in run(Options()):
        print(r.line())
    torch.set_num_threads(1)
    rows = measure_rows()
    fmt = "{:<7} {:<22} {:>3} {:<16} {:>4} {:>9} {:>8} {:>8} {:>10} {:>10}"
    print(
        fmt.format(
            "study", "family", "cls", "head", "side", "params M", "GMACs", "ms (b1)", "paper M", "paper GF"
        )
    )
    for r in rows:
        head = r["head"] + ("*" if r["kw"] else "")
        print(
            fmt.format(
                r["study"],
                r["family"],
                r["classes"],
                head,
                r["side"],
                f"{r['params_m']:.2f}",
                f"{r['gmacs']:.3f}",
                f"{r['latency_ms']:.1f}",
                "-" if r["paper_params_m"] is None else f"{r['paper_params_m']:.2f}",
                "-" if r["paper_gflops"] is None else f"{r['paper_gflops']:.2f}",
            )
        )
    print("* with the kwargs in ROWS: xception_c hidden=(1024, 1024); alexnet fc_layers=True")
    first = {}
    for r in rows:
        first.setdefault(r["family"], r)
    for model, base in PAIRS:
        a, b = first[model], first[base]
        print(
            f"{model} / {base}: params x{a['params_m'] / b['params_m']:.3f}, GMACs x{a['gmacs'] / b['gmacs']:.3f}, "
            f"latency (batch 1, CPU) x{a['latency_ms'] / b['latency_ms']:.3f}"
        )


if __name__ == "__main__":
    main()
