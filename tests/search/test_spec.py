"""The sweep's spec object (validated, frozen, recorded) and a trial that leaves process state alone."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from medzoo.errors import ConfigError
from medzoo.search import SweepSpec, TrialConfig, run, train_trial
from medzoo.search.sweep import SCHEDULERS

SEARCH_DIR = Path(__file__).resolve().parents[2] / "search"


def test_the_library_enforces_recipe_or_space_not_both(tmp_path: Path) -> None:
    space = tmp_path / "space.yaml"
    space.write_text("base: brain-effnet\n")
    with pytest.raises(ConfigError, match="exactly one of a recipe or a space"):
        SweepSpec.build(prepared=tmp_path, out=tmp_path / "r", recipe="brain-effnet", space=space)
    with pytest.raises(ConfigError, match="exactly one of a recipe or a space"):
        run(prepared=tmp_path, out=tmp_path / "r")
    with pytest.raises(ConfigError, match="unknown sweep option"):
        SweepSpec.build(prepared=tmp_path, out=tmp_path / "r", recipe="brain-effnet", sampels=3)
    assert not (tmp_path / "r").exists()


def test_a_spec_is_frozen_validated_and_recorded_in_run_json(tmp_path: Path) -> None:
    spec = SweepSpec.build(
        prepared=tmp_path,
        out=tmp_path / "r",
        recipe="brain-effnet",
        smoke=True,
        samples=3,
        objectives=["val_metric"],
    )
    assert spec.objectives == ("val_metric",) and spec.recipe.is_smoke and spec.scheduler in SCHEDULERS
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.samples = 4  # type: ignore[misc]
    with pytest.raises(ConfigError, match="samples >= 1"):
        dataclasses.replace(spec, samples=0)
    with pytest.raises(ConfigError, match="give a SweepSpec or keyword options"):
        run(spec, samples=4)
    info = spec.run_info(dataset="figshare-brain", primary_metric="accuracy")
    info.write(tmp_path)
    from medzoo.formats.run import RunInfo

    assert SweepSpec.from_run_info(RunInfo.read(tmp_path), out=spec.out) == spec


def test_a_trial_seeds_its_own_generators_not_the_process(prepared_phantom, tmp_path: Path) -> None:
    brain = prepared_phantom("figshare-brain")
    cfg = TrialConfig(family="tiny_cnn", image_size=32, epochs=1, batch_size=16, augment="none", seed=7)
    limit = {"train": 32, "val": 16}
    torch.manual_seed(123)
    np.random.seed(123)
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()
    a = train_trial(cfg, prepared=brain, out_dir=tmp_path / "a", limit=limit)
    assert torch.equal(torch.get_rng_state(), torch_state)  # the caller's RNG is left as it was
    assert all(np.array_equal(x, y) for x, y in zip(np.random.get_state(), np_state, strict=True))
    torch.manual_seed(999)  # another process state: the trial's result does not depend on it
    b = train_trial(cfg, prepared=brain, out_dir=tmp_path / "b", limit=limit)
    assert a["train_loss"] == b["train_loss"] and a["val_metric"] == b["val_metric"]


def test_no_process_rng_seeding_or_environment_edits_in_the_search_code() -> None:
    banned = re.compile(
        r"torch\.manual_seed\(|np\.random\.seed\(|\brandom\.seed\(|os\.environ\[|environ\.(setdefault|update|pop)\("
    )
    found = []
    for path in sorted(SEARCH_DIR.glob("*.py")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if banned.search(line) and "fork_rng" not in line:
                found.append(f"{path.name}:{n}: {line.strip()}")
    # the one allowed seeding is inside trial.seeded(), scoped by torch.random.fork_rng
    assert [f for f in found if not f.startswith("trial.py") or "torch.manual_seed(seed)" not in f] == []


def test_ctrl_c_during_fit_is_detected_after_tunes_handler_swallowed_it() -> None:
    """Tune's SIGINT handler ends ``fit`` normally and puts back the handler it found; the sweep
    must still know that the user pressed Ctrl-C (and then raise instead of testing and publishing)."""
    import os
    import signal

    from medzoo.search.sweep import _interrupt_watch

    def fit_like_tune(send: bool) -> None:
        original = signal.getsignal(signal.SIGINT)

        def tune_handler(signum, frame) -> None:
            signal.signal(signal.SIGINT, original)  # what ray.tune does on the first Ctrl-C

        signal.signal(signal.SIGINT, tune_handler)
        if send:
            os.kill(os.getpid(), signal.SIGINT)

    before = signal.getsignal(signal.SIGINT)
    with _interrupt_watch() as interrupted:
        fit_like_tune(send=False)
        assert not interrupted()
    with _interrupt_watch() as interrupted:
        fit_like_tune(send=True)
        assert interrupted()
    assert signal.getsignal(signal.SIGINT) is before


def test_concurrent_sweeps_register_trainables_of_their_own(tmp_path: Path) -> None:
    """Tune's trainable registry is shared by the whole Ray job: a campaign's sweeps must not share a name
    (one sweep's trials ran with another's data), and a resumed sweep must get its own name back."""
    from medzoo.search.sweep import _trainable, place

    def name(run: str) -> str:
        spec = SweepSpec.build(prepared=tmp_path, out=tmp_path / run, recipe="brain-effnet", smoke=True)
        return _trainable(spec, place(spec)).__name__

    assert name("brats19-grade") != name("chestxray14")
    assert name("brats19-grade") == name("brats19-grade")
