"""timm's own model test-suite, run against every ``medzoo_*`` model.

timm's source distribution ships ``tests/test_models.py``; CI downloads the sdist of
the installed timm (``pip download --no-binary :all: --no-deps timm==<version>``)
and points ``MEDZOO_TIMM_SDIST`` at the ``.tar.gz`` (or at its unpacked folder).
This test copies timm's file next to a conftest that imports medzoo, runs it in a
subprocess with ``-k medzoo_`` and requires every test that applies to pass.

Which of timm's tests apply: the forward pass, backward pass, default configs
(``forward_features``/``forward_head``/``reset_classifier``/``pretrained_cfg`` keys),
``features_only=True`` and torch.fx (forward and backward). Not applying, with the
reason timm itself gives for its own models:

- TorchScript (``torch.jit.script``): medzoo's backbones compose timm and torchvision
  parts by name at run time, which TorchScript cannot compile; timm's exporter is fx.
- ViT (``medzoo_vit_base_patch16_224``): token features, no spatial maps; timm keeps its
  own ``vit_*`` out of the default-config and feature tests (``NON_STD_FILTERS``).
- ``features_only`` of Inception-v3: valid-padding convs shrink small inputs below
  input/reduction; timm exempts its own ``inception_v3*`` from that bound by name,
  which a ``medzoo_`` name does not match.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

APPLICABLE = (
    "test_model_forward",
    "test_model_backward",
    "test_model_default_cfgs",
    "test_model_forward_features",
    "test_model_forward_fx",
    "test_model_backward_fx",
)
NOT_APPLICABLE = {
    ("test_model_default_cfgs", "medzoo_vit_base_patch16_224"): "token features (timm: NON_STD_FILTERS)",
    ("test_model_forward_features", "medzoo_vit_base_patch16_224"): "no spatial maps (timm: NON_STD_FILTERS)",
    ("test_model_forward_features", "medzoo_inception_v3"): "valid padding (timm exempts inception_v3*)",
}
CONFTEST = '''"""Make medzoo's families resolvable in timm, the way a user does: import medzoo, then timm."""
import medzoo  # noqa: F401
from medzoo.zoo.architectures.timm_bridge import install_import_hook

install_import_hook()
import timm  # noqa: E402,F401
'''
INI = "[pytest]\nmarkers =\n" + "".join(
    f"    {m}\n"
    for m in ("base", "cfg", "cfg_nonstd", "forward", "backward", "torchscript", "features", "timeout")
    + ("fxforward", "fxbackward")
)


def _timm_tests(where: Path, out: Path) -> Path:
    """timm's test_models.py (and its conftest) from the sdist, copied or extracted into ``out``."""
    out.mkdir(parents=True)
    if where.is_dir():
        tests = next(where.glob("**/tests/test_models.py")).parent
        shutil.copy(tests / "test_models.py", out / "test_models.py")
        return out / "test_models.py"
    with tarfile.open(where) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("/tests/test_models.py"))
        data = tar.extractfile(member)
        assert data is not None and member.isfile()
        (out / "test_models.py").write_bytes(data.read())
    return out / "test_models.py"


def _outcomes(junit: Path) -> dict[str, str]:
    """node id -> passed / failed / skipped, from pytest's JUnit XML."""
    result = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        kinds = {child.tag for child in case}
        outcome = "failed" if kinds & {"failure", "error"} else "skipped" if "skipped" in kinds else "passed"
        result[case.get("name", "")] = outcome
    return result


@pytest.mark.slow
def test_timm_model_suite_passes_on_every_medzoo_model(tmp_path: Path) -> None:
    import timm

    from medzoo.zoo import list_families

    source = os.environ.get("MEDZOO_TIMM_SDIST")
    if not source or not Path(source).exists():
        pytest.skip(
            f"timm's test-suite is not here: set MEDZOO_TIMM_SDIST to the sdist of timm=={timm.__version__} "
            f"(pip download --no-binary :all: --no-deps timm=={timm.__version__})"
        )
    if timm.__version__ not in Path(source).name and timm.__version__ not in str(Path(source).resolve()):
        pytest.fail(f"MEDZOO_TIMM_SDIST={source} must be the sdist of the installed timm {timm.__version__}")
    suite = tmp_path / "suite"
    _timm_tests(Path(source), suite)
    (suite / "conftest.py").write_text(CONFTEST)
    (suite / "pytest.ini").write_text(INI)
    batch = {"test_model_backward": 2, "test_model_backward_fx": 2}
    expected = [
        f"{test}[{batch.get(test, 1)}-medzoo_{family}]"
        for test in APPLICABLE
        for family in list_families()
        if (test, f"medzoo_{family}") not in NOT_APPLICABLE
    ]
    junit = tmp_path / "junit.xml"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    env.pop("GITHUB_ACTIONS", None)  # the same model lists locally and in CI
    run = subprocess.run(
        # no per-test timeouts (timm's 120 s assume an idle machine): the run as a whole is bounded below
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:timeout",
            f"--junitxml={junit}",
        ]
        + [f"test_models.py::{node}" for node in expected],
        cwd=suite,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert junit.is_file(), run.stdout[-4000:] + run.stderr[-4000:]
    outcomes = _outcomes(junit)
    failed = sorted(n for n, o in outcomes.items() if o != "passed")
    print(f"timm tests/test_models.py on medzoo_*: {len(outcomes) - len(failed)} of {len(outcomes)} passed")
    assert not failed, f"{len(failed)} of timm's tests did not pass: {failed}\n{run.stdout[-4000:]}"
    assert sorted(outcomes) == sorted(expected), f"not run: {sorted(set(expected) - set(outcomes))[:10]}"
    assert run.returncode == 0, run.stdout[-4000:]
