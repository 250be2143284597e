"""The built wheel holds every module and data file of the source tree: an editable install (what the test suite
runs on) would hide a package or a data file that `pip install protst-hf` leaves out."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_carries_every_module_and_data_file(tmp_path):
    # build from a clean copy: setuptools reuses a `build/` folder, which can hold modules the config leaves out
    tree = tmp_path / "tree"
    tree.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE", "src"):
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy
        copy(ROOT / name, tree / name, **({"ignore": shutil.ignore_patterns("*.egg-info", "__pycache__")}
                                          if (ROOT / name).is_dir() else {}))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                            str(tmp_path / "dist"), str(tree)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    wheel = next((tmp_path / "dist").glob("protst_hf-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    source = tree / "src"
    expected = {str(p.relative_to(source)) for p in (source / "protst_hf").rglob("*")
                if p.is_file() and "__pycache__" not in p.parts}
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
             "from protst_hf.models.protst.inference_protst import LABEL_SETS; print(protst_hf.__file__)")
    imported = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=300,
                              cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr[-3000:]
    assert imported.stdout.strip().startswith(str(target))
