"""One protocol for the folders written beside a model (an embedding index, an annotation reference, embedding
shards), in the spirit of transformers' `save_pretrained` / `from_pretrained` / `push_to_hub`, which the model
and the ProtDescribe dataset keep using:

- a folder holds one **marker**, a JSON file naming its `format_version` and what it holds, written last and
  atomically ([`atomic_open`]): a folder without it is unfinished and refused ([`IncompleteFolderError`]), a folder
  from a later format version is refused with the version it needs;
- `load(folder_or_repo)` reads a local folder or a Hub dataset repository holding one (downloaded once, cached);
- its card (`README.md`) is rendered from a template of the package's `model_cards/` with huggingface_hub's
  `DatasetCard`, from the marker alone (a multi-gigabyte index is never read for its card), and names models by
  Hub id or folder name, never by the building machine's path ([`model_display_name`]);
- `push_folder(folder, repo_id)` re-renders the card for `repo_id` and uploads the folder as one commit.

This file is shipped to the Hub with saved models and imports nothing of the package: copied into a model folder
(loaded with `trust_remote_code`), it finds no templates, and folders are saved without a card.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

CARD_FILE = "README.md"


class IncompleteFolderError(ValueError):
    """A folder without its marker: a build that was killed, or is still running."""


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w") -> Iterator[IO]:
    """Open `path.tmp-PID` for writing; on a clean exit it replaces `path` (one `os.replace`), on an exception it is
    removed and `path` is left as it was (absent, or its previous content).

    Example:
        >>> with atomic_open("scores.tsv") as out:
        ...     out.write("id\\tscore\\n")
    """
    target = Path(path)
    partial = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    try:
        with open(partial, mode) as handle:
            yield handle
        os.replace(partial, target)
    finally:
        if partial.exists():
            partial.unlink()


def write_atomic(path: str | os.PathLike, text: str) -> None:
    """`path`'s whole text, written through [`atomic_open`]."""
    with atomic_open(path) as handle:
        handle.write(text)


def model_display_name(name: str) -> str:
    """How a card names a model: a Hub id as it is, a local folder by its folder name (the path of the machine that
    built a folder means nothing once the folder is pushed)."""
    path = Path(name)
    if path.is_absolute() or name.startswith(".") or (os.sep in name and path.exists()):
        return path.name
    return name


def size_category(count: int) -> str:
    """The Hub's `size_categories` value for `count` rows."""
    for limit, label in ((1e3, "n<1K"), (1e4, "1K<n<10K"), (1e5, "10K<n<100K"), (1e6, "100K<n<1M"),
                         (1e7, "1M<n<10M")):
        if count < limit:
            return label
    return "n>10M"


def card_template(name: str) -> Path | None:
    """The card template `name` of the package this file belongs to (its `model_cards`), or None where there is
    none (this file copied into a model folder on the Hub)."""
    package = (__package__ or "").split(".")[0]
    try:
        spec = importlib.util.find_spec(f"{package}.model_cards") if package else None
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / name
    return path if path.is_file() else None


def upload_folder(folder: str | Path, repo_id: str, repo_type: str, private: bool = False, token: str | None = None,
                  revision: str | None = None, commit_message: str | None = None) -> str:
    """Create `repo_id` (and the branch `revision`) if needed and upload `folder` as one commit, leaving out
    unfinished files; returns the commit URL. Unchanged files are not uploaded again."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
    if revision:
        api.create_branch(repo_id, repo_type=repo_type, branch=revision, exist_ok=True)
    commit = api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type=repo_type, revision=revision,
                               commit_message=commit_message or f"Upload {Path(folder).name} with protst-hf",
                               ignore_patterns=[".work/**", "*.tmp", "*.tmp-*"])
    return commit.commit_url


class HubFolderMixin:
    """Save, load, card and push for a folder format. A subclass names its marker file, format version, card
    template and what a download may skip, and implements `card_variables` (what its template needs, from the
    folder and its marker)."""

    MARKER: str = ""
    FORMAT_VERSION: int = 1
    CARD_TEMPLATE: str = ""
    KIND: str = "folder"  # the word in messages ("index", "annotation reference", ...)
    DOWNLOAD_IGNORE: tuple[str, ...] = ()
    RESUME_HINT: str = ""  # how to finish an unfinished folder
    LEGACY_VERSION_KEY: str | None = None  # where folders of an earlier release recorded their version

    @classmethod
    def resolve_folder(cls, folder_or_repo: str | Path, revision: str | None = None) -> Path:
        """A local folder, or the cached download of the Hub dataset repository `folder_or_repo`."""
        folder = Path(folder_or_repo)
        if folder.is_dir():
            return folder
        name = str(folder_or_repo)
        if name.count("/") != 1 or name.startswith((".", "/")):
            raise FileNotFoundError(f"no {cls.KIND} at {folder_or_repo}")
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name, repo_type="dataset", revision=revision,
                                      ignore_patterns=list(cls.DOWNLOAD_IGNORE) or None))

    @classmethod
    def read_marker(cls, folder: str | Path) -> dict:
        """The marker of a finished folder, without its `format_version`; an unfinished folder or a later format
        version is refused. Folders from before the version field read as version 1."""
        folder = Path(folder)
        marker = folder / cls.MARKER
        if not marker.is_file():
            hint = f" {cls.RESUME_HINT}" if cls.RESUME_HINT else ""
            raise IncompleteFolderError(f"{folder} is not a complete {cls.KIND} (no {cls.MARKER}): its build was "
                                        f"killed or is still running.{hint}")
        content = json.loads(marker.read_text())
        legacy = content.pop(cls.LEGACY_VERSION_KEY, 1) if cls.LEGACY_VERSION_KEY else 1
        version = content.pop("format_version", legacy)
        if not isinstance(version, int) or version > cls.FORMAT_VERSION:
            raise ValueError(f"{folder}: {cls.KIND} format {version!r}, this version of protst-hf reads up to "
                             f"{cls.FORMAT_VERSION}: upgrade protst-hf")
        return content

    @classmethod
    def write_marker(cls, folder: str | Path, content: dict, card: bool = True) -> None:
        """The card (where the templates are installed), then the marker, last and atomically: the folder is
        complete from that moment."""
        folder = Path(folder)
        if card:
            text = cls.render_card(folder, content)
            if text is not None:
                write_atomic(folder / CARD_FILE, text)
        write_atomic(folder / cls.MARKER, json.dumps({"format_version": cls.FORMAT_VERSION, **content},
                                                     indent=2) + "\n")

    @classmethod
    def card_variables(cls, folder: Path, marker: dict, repo_id: str) -> dict:
        """What the card template needs: `card_data` keys (tags, size_categories, ...) under `card_data` and the
        template's variables."""
        raise NotImplementedError

    @classmethod
    def render_card(cls, folder: str | Path, marker: dict, repo_id: str = "ORG/NAME") -> str | None:
        """The folder's card from its template and marker, or None where the templates are not installed."""
        template = card_template(cls.CARD_TEMPLATE)
        if template is None:
            return None
        from huggingface_hub import DatasetCard, DatasetCardData

        variables = cls.card_variables(Path(folder), marker, repo_id)
        data = DatasetCardData(**variables.pop("card_data", {}))
        return str(DatasetCard.from_template(data, template_path=str(template), repo_id=repo_id, **variables))

    @classmethod
    def push_folder(cls, folder: str | Path, repo_id: str, private: bool = False, token: str | None = None,
                    revision: str | None = None, commit_message: str | None = None) -> str:
        """Upload a finished folder to the Hub dataset repository `repo_id` as one commit, its card re-rendered to
        name that repository; returns the commit URL. Unchanged files are not uploaded again."""
        folder = Path(folder)
        marker = cls.read_marker(folder)
        text = cls.render_card(folder, marker, repo_id)
        if text is not None:
            write_atomic(folder / CARD_FILE, text)
        return upload_folder(folder, repo_id, "dataset", private=private, token=token, revision=revision,
                             commit_message=commit_message or f"Upload {cls.KIND} with protst-hf")


__all__ = ["CARD_FILE", "HubFolderMixin", "IncompleteFolderError", "atomic_open", "card_template",
           "model_display_name", "size_category", "upload_folder", "write_atomic"]
