"""Pushing folders (datasets, models, indexes) to the Hub, with a clear error when no token is available."""

import json
import shutil
from pathlib import Path

from huggingface_hub import get_token

from ..models.protst.folder_protst import upload_folder


class MissingTokenError(RuntimeError):
    """No Hugging Face token: pushing needs one."""


def require_token(repo_id: str, token: str | None = None) -> str:
    """The token to push with (given, or from `hf auth login` / HF_TOKEN), or a `MissingTokenError` saying how."""
    token = token or get_token()
    if not token:
        raise MissingTokenError("no Hugging Face token: run `hf auth login`, or set HF_TOKEN, or pass --token "
                                f"(needed to push {repo_id})")
    return token


def push_folder(
    folder: str | Path,
    repo_id: str,
    repo_type: str = "model",
    private: bool = False,
    revision: str | None = None,
    commit_message: str | None = None,
    token: str | None = None,
) -> str:
    """Create `repo_id` if needed and upload `folder` to it as one commit; returns the commit URL.

    Re-pushing the same folder is harmless: unchanged files are not uploaded again.
    """
    return upload_folder(folder, repo_id, repo_type, private=private, token=require_token(repo_id, token),
                         revision=revision, commit_message=commit_message)


KINDS = ("model", "adapter", "dataset", "index", "reference", "embeddings")


def _folder_protocols() -> dict:
    """The folder kinds of the package's own protocol (`HubFolderMixin`): save, load, card and push."""
    from ..annotation.store import ReferenceFolder
    from ..embedding.shards import EmbeddingFolder
    from ..models.protst.index_protst import ProteinIndex

    return {"index": ProteinIndex, "reference": ReferenceFolder, "embeddings": EmbeddingFolder}


def detect_kind(folder: str | Path) -> str:
    """What a folder holds: a LoRA `adapter` (adapter_config.json), an annotation `reference` (reference.json), an
    `index` (index_metadata.json), `embeddings` (manifest.json), a ProtDescribe `dataset` (build_report.json) or a
    `model` (config.json)."""
    folder = Path(folder)
    for marker, kind in (("adapter_config.json", "adapter"), ("reference.json", "reference"),
                         ("index_metadata.json", "index"), ("manifest.json", "embeddings"),
                         ("build_report.json", "dataset"), ("config.json", "model")):
        if (folder / marker).is_file():
            return kind
    raise ValueError(f"{folder} holds no model (config.json), adapter (adapter_config.json), annotation reference "
                     "(reference.json), index (index_metadata.json), embeddings (manifest.json) or ProtDescribe "
                     "build (build_report.json); an unfinished build has no marker yet")


def adapter_card(folder: str | Path, repo_id: str, license: str = "apache-2.0"):
    """The card of a LoRA adapter: its base model, rank and target modules, and how to load it."""
    from huggingface_hub import ModelCard, ModelCardData

    config = json.loads((Path(folder) / "adapter_config.json").read_text())
    base = config.get("base_model_name_or_path")
    hub_base = base if base and "/" in base and not Path(base).exists() else None
    result_path = Path(folder) / "finetune_result.json"
    result = json.loads(result_path.read_text()) if result_path.exists() else None
    data = ModelCardData(library_name="peft", license=license, base_model=hub_base,
                         tags=["protein", "biology", "protst", "lora"])
    lines = [f"# {repo_id.split('/')[-1]}", "",
             f"A LoRA adapter (rank {config.get('r')}, alpha {config.get('lora_alpha')}, on "
             f"{', '.join(sorted(config.get('target_modules') or []))}) for the protein tower of "
             f"`{hub_base or base or 'its base model'}`, trained with `protst evaluate --protocol lora`; modules "
             f"saved whole: {', '.join(config.get('modules_to_save') or []) or 'none'}.", "",
             "```python", "from peft import PeftModel", "from transformers import AutoModelForSequenceClassification",
             "", f"base = AutoModelForSequenceClassification.from_pretrained(\"{hub_base or 'BASE_MODEL'}\", "
             "trust_remote_code=True)", f"model = PeftModel.from_pretrained(base, \"{repo_id}\")", "```", ""]
    if result:
        lines += ["## Results", "", f"validation {result.get('validation')}; test {result.get('test')} "
                  f"(best epoch {result.get('best_epoch')}).", ""]
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(lines))


def publish(folder: str | Path, repo_id: str, kind: str | None = None, private: bool = False,
            revision: str | None = None, eval_results: str | Path | None = None, token: str | None = None,
            license: str = "apache-2.0") -> str:
    """Push a model, adapter, dataset, index, annotation reference or embedding folder to `repo_id` with a generated
    card (README.md).

    A model folder gets its card rendered from its config, `training_info.json`, `conversion_report.json` and the
    evaluation results (`eval_results`, copied in as `eval_results.json`, or one already there); the Hub code files
    written by `save_pretrained` travel with it. Datasets, indexes and annotation references push to dataset
    repositories; indexes, references and embeddings through their folder protocol (`HubFolderMixin.push_folder`: an
    unfinished folder is refused, the card is re-rendered for `repo_id`). Re-pushing an unchanged folder creates no
    new commit.
    """
    folder = Path(folder)
    kind = kind or detect_kind(folder)
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}: one of {', '.join(KINDS)}")
    token = require_token(repo_id, token)  # before any card is written into the folder
    if kind == "model":
        from .cards import render_model_card

        target = folder / "eval_results.json"
        if eval_results is not None and Path(eval_results).resolve() != target.resolve():
            shutil.copyfile(eval_results, target)
        results = json.loads(target.read_text()) if target.exists() else None
        render_model_card(folder, repo_id, eval_results=results, license=license).save(folder / "README.md")
    elif kind == "adapter":
        adapter_card(folder, repo_id, license).save(folder / "README.md")
    else:
        protocols = _folder_protocols()
        if kind in protocols:  # its card re-rendered to name `repo_id` (from the marker: no large file is read)
            return protocols[kind].push_folder(folder, repo_id, private=private, token=token, revision=revision)
    repo_type = "model" if kind in ("model", "adapter") else "dataset"
    return push_folder(folder, repo_id, repo_type=repo_type, private=private, revision=revision, token=token,
                       commit_message=f"Upload {kind} with protst-hf")


__all__ = ["KINDS", "MissingTokenError", "adapter_card", "detect_kind", "publish", "push_folder", "require_token"]
