"""Card templates (Jinja, rendered with huggingface_hub's ModelCard / DatasetCard): installed as
`protst_hf.model_cards`."""

from pathlib import Path

TEMPLATES = Path(__file__).parent
