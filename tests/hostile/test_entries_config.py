"""Issue 11 class 3 for the zoo store: an entry's config.json is untrusted configuration.

Each case below rewrites one field of a valid entry's config.json (or its bytes); loading,
predicting and listing must refuse it with one error naming config.json and the field, before any
model is built: no network (``hf-hub:``), no file outside the zoo (``local-dir:``), no weights loaded
through ``model_args``, no NaN printed as a result."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from entries_zoo import assert_one_error_line, image_png, run_cli, write_entry

from medzoo.errors import MedzooError
from medzoo.zoo.entries import store

ENTRY = "figshare-brain/m"


def _set(path: str, value) -> Callable[[dict], None]:
    def mutate(cfg: dict) -> None:
        *parents, last = path.split(".")
        node = cfg
        for p in parents:
            node = node[p]
        node[last] = value

    return mutate


def _drop(path: str) -> Callable[[dict], None]:
    def mutate(cfg: dict) -> None:
        *parents, last = path.split(".")
        node = cfg
        for p in parents:
            node = node[p]
        del node[last]

    return mutate


#: (case id, change to the parsed config, text the error must contain)
FIELD_CASES = [
    ("hf-hub", _set("architecture", "hf-hub:attacker/model"), "architecture"),
    ("local-dir", _set("architecture", "local-dir:/etc"), "architecture"),
    ("path", _set("architecture", "../../x"), "architecture"),
    ("unknown-arch", _set("architecture", "no_such_model_xyz"), "no_such_model_xyz"),
    ("arch-number", _set("architecture", 7), "architecture"),
    ("num-classes-string", _set("num_classes", "3"), "num_classes"),
    ("num-classes-vs-labels", _set("num_classes", 4), "label_names"),
    ("too-few-labels", _set("label_names", ["a", "b"]), "label_names"),
    ("duplicate-labels", _set("label_names", ["a", "a", "b"]), "label_names"),
    ("zero-classes", _set("num_classes", 0), "num_classes"),
    ("huge-input", _set("pretrained_cfg.input_size", [3, 100000, 100000]), "input_size"),
    ("zero-input", _set("pretrained_cfg.input_size", [3, 0, 0]), "input_size"),
    ("two-channels", _set("pretrained_cfg.input_size", [2, 32, 32]), "input_size"),
    ("input-strings", _set("pretrained_cfg.input_size", ["3", "32", "32"]), "input_size"),
    ("std-zero", _set("pretrained_cfg.std", [0.0, 0.0, 0.0]), "std"),
    ("std-negative", _set("pretrained_cfg.std", [0.2, -0.2, 0.2]), "std"),
    ("mean-string", _set("pretrained_cfg.mean", ["a", 0.5, 0.5]), "mean"),
    ("std-missing", _drop("pretrained_cfg.std"), "std"),
    ("model-args-pretrained", _set("model_args.pretrained", True), "model_args.pretrained"),
    (
        "model-args-checkpoint",
        _set("model_args.checkpoint_path", "/etc/passwd"),
        "model_args.checkpoint_path",
    ),
    (
        "model-args-cfg",
        _set("model_args.pretrained_cfg", {"file": "/etc/passwd"}),
        "model_args.pretrained_cfg",
    ),
    ("model-args-nested", _set("model_args.head", {"x": 1}), "model_args.head"),
    ("model-args-bad-value", _set("model_args.dropout", "lots"), "model_args"),
    ("task", _set("medzoo.task", "segmentation"), "medzoo.task"),
    ("sha-not-hex", _set("medzoo.weights_sha256", "../../etc/passwd"), "weights_sha256"),
    ("threshold", _set("medzoo.threshold", 7.0), "threshold"),
    ("threshold-label", _set("medzoo.threshold", {"nope": 0.5}), "threshold"),
    ("cam-layer", _set("medzoo.cam_layer", "__import__('os')"), "cam_layer"),
    ("missing-medzoo", _drop("medzoo"), "medzoo"),
    ("unknown-key", _set("medzoo.evil", 1), "evil"),
    ("newer-version", _set("format_version", 99), "format_version 99"),
]

#: (case id, bytes of config.json, text the error must contain)
BYTE_CASES = [
    ("not-utf8", b'{"architecture": "\xff\xfe"}', "UTF-8"),
    ("truncated", None, "not valid JSON"),
    ("nan", b'{"architecture": NaN}', "not valid JSON"),
    ("a-list", b"[1, 2, 3]", "JSON object"),
    ("empty", b"", "not valid JSON"),
]


@pytest.fixture
def zoo(tmp_path: Path) -> Path:
    zoo = tmp_path / "zoo"
    write_entry(zoo)
    return zoo


def _config(zoo: Path) -> Path:
    return zoo / "figshare-brain" / "m" / "r1" / "config.json"


#: cases that only building the model can detect (the registry, the family's own arguments): listing, which
#: never imports timm, still shows the entry; load and predict refuse it
BUILD_TIME = {"unknown-arch", "model-args-bad-value"}


def _check_refused(zoo: Path, tmp_path: Path, capsys, *needles: str, listed: bool = False) -> None:
    with pytest.raises(MedzooError) as info:
        store.load(ENTRY, zoo=zoo)
    assert "config.json" in info.value.message
    for needle in needles:
        assert needle in info.value.message, info.value.message
    code, out, err = run_cli(["predict", ENTRY, str(image_png(tmp_path)), "--zoo", str(zoo)], capsys)
    assert_one_error_line(code, err, "config.json", *needles)
    assert "nan" not in out.lower()
    listing = store.list(zoo=zoo)
    if listed:
        assert [e.id for e in listing] == [f"{ENTRY}@r1"]
        return
    assert listing.entries == () and [p.id for p in listing.problems] == [f"{ENTRY}@r1"]
    assert "config.json" in listing.problems[0].reason


@pytest.mark.parametrize("case, mutate, needle", FIELD_CASES, ids=[c[0] for c in FIELD_CASES])
def test_each_bad_field_is_refused_naming_it(zoo, tmp_path, capsys, monkeypatch, case, mutate, needle):
    import timm

    def no_build(*args, **kwargs):
        raise AssertionError("a model was built from a hostile config.json")

    monkeypatch.setattr(timm, "create_model", no_build)  # validation comes first; nothing is built
    if case == "unknown-arch":
        monkeypatch.undo()  # the registry lookup needs timm; still nothing is built for an unknown name
    cfg = json.loads(_config(zoo).read_text())
    mutate(cfg)
    _config(zoo).write_text(json.dumps(cfg))
    _check_refused(zoo, tmp_path, capsys, needle, listed=case in BUILD_TIME)


@pytest.mark.parametrize("case, data, needle", BYTE_CASES, ids=[c[0] for c in BYTE_CASES])
def test_broken_bytes_are_refused(zoo, tmp_path, capsys, case, data, needle):
    path = _config(zoo)
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2] if data is None else data)
    _check_refused(zoo, tmp_path, capsys, needle)


def test_weights_for_another_class_count_are_refused(zoo, tmp_path, capsys):
    """config.json says 3 classes, consistent with its labels; the weights' classifier has 4 outputs."""
    from entries_zoo import tiny_weights

    from medzoo.zoo.entries.store import sha256_bytes

    weights, _ = tiny_weights(num_classes=4)
    (zoo / "figshare-brain" / "m" / "r1" / "model.safetensors").write_bytes(weights)
    cfg = json.loads(_config(zoo).read_text())
    cfg["medzoo"]["weights_sha256"] = sha256_bytes(weights)
    _config(zoo).write_text(json.dumps(cfg))
    with pytest.raises(MedzooError, match="num_classes=3"):
        store.load(ENTRY, zoo=zoo)
    code, _, err = run_cli(["predict", ENTRY, str(image_png(tmp_path)), "--zoo", str(zoo)], capsys)
    assert_one_error_line(code, err, "num_classes=3")


def test_non_finite_weights_give_an_error_not_nan(zoo, tmp_path, capsys):
    import torch
    from safetensors.torch import load, save

    from medzoo.zoo.entries.store import sha256_bytes

    path = zoo / "figshare-brain" / "m" / "r1" / "model.safetensors"
    state = load(path.read_bytes())
    state = {k: torch.full_like(v, float("nan")) if v.is_floating_point() else v for k, v in state.items()}
    weights = save(state)
    path.write_bytes(weights)
    cfg = json.loads(_config(zoo).read_text())
    cfg["medzoo"]["weights_sha256"] = sha256_bytes(weights)
    _config(zoo).write_text(json.dumps(cfg))
    code, out, err = run_cli(["predict", ENTRY, str(image_png(tmp_path)), "--zoo", str(zoo)], capsys)
    assert_one_error_line(code, err, "non-finite")
    assert "nan" not in out.lower()
