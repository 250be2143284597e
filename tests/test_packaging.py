"""The built wheel holds every module and data file of the source tree: an editable install (what the test suite
runs on) would hide a package or a data file that `pip install protst-hf` leaves out."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAVED = ROOT / "tests" / "fixtures" / "saved_model_2077500"  # a model folder saved by an earlier version


def clean_copy(tree: Path) -> Path:
    """What a build reads (the project files, src/, model_cards/, the backend in scripts/), without build leftovers:
    setuptools reuses a `build/` folder, which can hold modules the config leaves out."""
    tree.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE", "src", "model_cards", "scripts"):
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy
        copy(ROOT / name, tree / name, **({"ignore": shutil.ignore_patterns("*.egg-info", "__pycache__")}
                                          if (ROOT / name).is_dir() else {}))
    return tree


@pytest.mark.slow
def test_wheel_carries_every_module_and_data_file(tmp_path):
    tree = clean_copy(tmp_path / "tree")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                            str(tmp_path / "dist"), str(tree)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    assert "warning" not in (built.stdout + built.stderr).lower(), built.stdout + built.stderr
    wheel = next((tmp_path / "dist").glob("protst_hf-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    source = tree / "src"
    expected = {str(p.relative_to(source)) for p in (source / "protst_hf").rglob("*")
                if p.is_file() and "__pycache__" not in p.parts}
    # model_cards/ at the top of the repository is installed as protst_hf.model_cards (one home, no copy in src/)
    assert not (source / "protst_hf" / "model_cards").exists()
    expected |= {f"protst_hf/model_cards/{p.name}" for p in (tree / "model_cards").iterdir() if p.is_file()}
    assert expected - names == set()
    assert {"protst_hf/model_cards/dataset_card.md", "protst_hf/model_cards/model_card.md",
            "protst_hf/models/protst/label_sets/subloc_name.tsv",
            "protst_hf/resources/uniprot_sprot_2022_sample.xml.gz"} <= names

    # installed from the wheel alone, the training loop, the CLI and the pipelines import
    target = tmp_path / "site"
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
                                str(wheel)], capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr[-3000:]
    check = (f"import sys; sys.path.insert(0, {str(target)!r}); import protst_hf, protst_hf.training.pretrain, "
             "protst_hf.evaluation.harness, protst_hf.cli, protst_hf.embedding.shards, protst_hf.data.uniprot, "
             "protst_hf.hub.convert, protst_hf.hub.push, protst_hf.hub.cards; "
             "from protst_hf.models.protst.prompts_protst import LABEL_SETS; "
             # what `protst push` renders, from the templates the wheel carries
             "from protst_hf.hub.cards import render_model_card; from protst_hf.model_cards import TEMPLATES; "
             f"card = render_model_card({str(SAVED)!r}, 'ORG/protst-tiny'); "
             "assert 'ORG/protst-tiny' in str(card) and str(TEMPLATES).startswith(sys.path[0]), TEMPLATES; "
             "print(protst_hf.__file__)")
    imported = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=300,
                              cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr[-3000:]
    assert imported.stdout.strip().startswith(str(target))


def test_editable_install_is_quiet_and_finds_the_card_templates(tmp_path):
    """`pip install -e .` (the build backend's editable hook, run directly) prints no setuptools notice, and the
    mapped `model_cards/` is what `protst_hf.model_cards` imports in an editable install."""
    tree = clean_copy(tmp_path / "tree")
    hook = ("import sys; sys.path.insert(0, 'scripts'); import build_backend; "
            "print(build_backend.build_editable(sys.argv[1]))")
    built = subprocess.run([sys.executable, "-W", "always", "-c", hook, str(tmp_path / "dist")], cwd=tree,
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    assert "Editable installation" not in built.stderr and "SetuptoolsWarning" not in built.stderr, built.stderr
    wheel = tmp_path / "dist" / built.stdout.strip().splitlines()[-1]
    finder = next(n for n in zipfile.ZipFile(wheel).namelist() if n.endswith("finder.py"))
    mapping = zipfile.ZipFile(wheel).read(finder).decode()
    assert str(tree / "model_cards") in mapping  # protst_hf.model_cards -> the top-level folder
