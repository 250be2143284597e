"""Pushing folders (datasets, models, indexes) to the Hub, with a clear error when no token is available."""

from pathlib import Path

from huggingface_hub import HfApi, get_token


class MissingTokenError(RuntimeError):
    """No Hugging Face token: pushing needs one."""


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
    token = token or get_token()
    if not token:
        raise MissingTokenError(
            "no Hugging Face token: run `hf auth login`, or set HF_TOKEN, or pass --token (needed to push "
            f"{repo_id})"
        )
    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
    if revision:
        api.create_branch(repo_id, repo_type=repo_type, branch=revision, exist_ok=True)
    commit = api.upload_folder(
        folder_path=str(folder), repo_id=repo_id, repo_type=repo_type, revision=revision,
        commit_message=commit_message or f"Upload {Path(folder).name} with protst-hf",
        ignore_patterns=[".work/**", "*.tmp"],
    )
    return commit.commit_url


__all__ = ["MissingTokenError", "push_folder"]
