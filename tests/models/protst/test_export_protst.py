"""What a saved folder carries for trust_remote_code users: the Auto-class table, pipelines, code and label sets."""

import json
import os

from transformers import AutoConfig

from protst_hf import ProtSTModel
from protst_hf.models.protst.export_protst import AUTO_CLASSES, MODEL_FILES, PIPELINE_FILES, PIPELINES
from protst_hf.models.protst.prompts_protst import label_set_files


def test_saved_folder_carries_the_pipelines_their_code_and_label_sets(model_folder):
    config = json.loads((model_folder / "config.json").read_text())
    assert set(config["custom_pipelines"]) == set(PIPELINES)
    assert {entry["impl"] for entry in config["custom_pipelines"].values()} == set(PIPELINES.values())
    # every model class and the config in auto_map; the processor's entry lives in processor_config.json
    assert config["auto_map"] == {k: v for k, v in AUTO_CLASSES.items() if k != "AutoProcessor"}
    processor_config = json.loads((model_folder / "processor_config.json").read_text())
    assert processor_config["auto_map"] == {"AutoProcessor": AUTO_CLASSES["AutoProcessor"]}
    files = set(os.listdir(model_folder))
    assert set(PIPELINE_FILES) | {"modeling_protst.py", "configuration_protst.py", "export_protst.py"} <= files
    assert all((model_folder / "label_sets" / name).is_file() for name in label_set_files())


def test_saved_models_carry_the_packing_code(make_config, tmp_path):
    ProtSTModel(make_config(protein_packed=True)).save_pretrained(tmp_path)
    assert (tmp_path / "packing_protst.py").exists()
    assert AutoConfig.from_pretrained(tmp_path).protein_packed is True


def _relative_imports(path):
    import re

    return set(re.findall(r"^\s*from\s+\.(\w+)\s+import", path.read_text(), flags=re.MULTILINE))


def _closure(names) -> set[str]:
    """The modules `names` import, directly or not (relative imports of the model folder), without `names`."""
    from protst_hf.models.protst.export_protst import HERE

    seen, todo = set(), [m for n in names for m in _relative_imports(HERE / f"{n}.py")]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(_relative_imports(HERE / f"{name}.py"))
    return seen


def test_every_hub_entry_file_imports_all_it_needs_directly():
    """transformers 5.3 copies only a code file's direct relative imports out of a local folder (newer versions
    follow them recursively): every file an Auto class or pipeline names must import its whole closure itself."""
    from protst_hf.models.protst import export_protst

    here = export_protst.HERE
    entries = {impl.split(".")[0] for impl in [*AUTO_CLASSES.values(), *PIPELINES.values()]}
    for entry in sorted(entries):
        direct = _relative_imports(here / f"{entry}.py")
        closure = _closure([entry]) - {entry}
        assert closure == direct, f"{entry}.py also needs {sorted(closure - direct)} imported directly"


def test_the_two_tiers_of_shipped_code_are_what_their_entries_import():
    """MODEL_FILES is exactly what the Auto classes' modules import (closure included), PIPELINE_FILES what the
    pipelines import beyond the modeling file, and together they are every code file of the model folder."""
    from protst_hf.models.protst.export_protst import HERE

    def files(entries):
        return {f"{n}.py" for n in _closure(entries) | set(entries)}

    assert files({impl.split(".")[0] for impl in AUTO_CLASSES.values()}) == set(MODEL_FILES)
    assert files({impl.split(".")[0] for impl in PIPELINES.values()}) <= set(PIPELINE_FILES) | set(MODEL_FILES)
    shipped = {p.name for p in HERE.glob("*_protst.py")}
    assert set(MODEL_FILES) | set(PIPELINE_FILES) == shipped
