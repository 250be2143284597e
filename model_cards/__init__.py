"""Card templates (Jinja, rendered with huggingface_hub's ModelCard / DatasetCard). This folder sits at the top of
the repository and is installed as `protst_hf.model_cards` (pyproject.toml maps it with setuptools' `package-dir`),
so that a checkout shows the cards where a reader looks for them and an installed wheel still carries them."""

from pathlib import Path

TEMPLATES = Path(__file__).parent
