"""The ProtDescribe dataset card, rendered from `model_cards/dataset_card.md` with huggingface_hub (no network)."""

from pathlib import Path

from huggingface_hub import DatasetCard, DatasetCardData

from ..model_cards import TEMPLATES


def _size_category(rows: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                        (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M")):
        if rows < limit:
            return name
    return "100M<n<1B"


def _file_list(paths: list[str], shown: int = 3) -> str:
    """File names (never local paths) for a public card: the first few, then a count."""
    names = [f"`{Path(p).name}`" for p in paths]
    if len(names) > shown:
        return ", ".join(names[:shown]) + f" and {len(names) - shown} more files"
    return ", ".join(names) or "none"


def render_dataset_card(report: dict, with_original: bool = True, repo_id: str = "ORG/ProtDescribe") -> DatasetCard:
    """The ProtDescribe dataset card: YAML metadata (license, configs with their parquet files) and the build
    report as text. `load_dataset(folder)` reads the `configs` of the YAML, offline."""
    written = report["rows"]["written"]
    configs = [{"config_name": "default", "default": True,
                "data_files": [{"split": name, "path": f"data/{name}-*.parquet"} for name in written]}]
    if with_original:
        configs.append({"config_name": "original",
                        "data_files": [{"split": "train", "path": "original/train-*.parquet"}]})
    card_data = DatasetCardData(
        license="cc-by-4.0",
        language=["en"],
        pretty_name="ProtDescribe",
        size_categories=[_size_category(sum(written.values()))],
        task_categories=["feature-extraction", "text-retrieval"],
        tags=["protein", "biology", "protst", "uniprot", "protein-text"],
        source_datasets=["UniProtKB"],
        configs=configs,
    )
    split = report["split"]
    if split["method"] == "mmseqs":
        description = (f"MMseqs2 clusters at {split['identity']:.0%} identity and {split['coverage']:.0%} coverage "
                       f"({split['clusters']:,} clusters), whole clusters assigned to one split (seed "
                       f"{split['seed']}, ratios {split['ratios']}).")
    elif split["method"] == "random":
        description = (f"random, ignoring homology (asked for explicitly), identical sequences kept together (seed "
                       f"{split['seed']}, ratios {split['ratios']}).")
    else:
        description = "none: every row in `train`."
    leakage = report.get("leakage") or {}
    removed = report["rows"]["removed_for_leakage"]
    return DatasetCard.from_template(
        card_data,
        template_path=str(TEMPLATES / "dataset_card.md"),
        repo_id=repo_id,
        release=report.get("uniprot_release"),
        written=written,
        with_original=with_original,
        original_rows=report["rows"]["original_config_rows"],
        split_description=description,
        inputs=_file_list(report["inputs"]),
        newest_entry_date=report.get("newest_entry_date"),
        parse=report["parse"],
        rows=report["rows"],
        field_coverage=report["field_coverage"],
        leakage={Path(path).name: item for path, item in leakage.items()},
        leakage_identity=next(iter(leakage.values()))["identity"] if leakage else None,
        removed=removed,
        removed_any=any(removed.values()),
    )


__all__ = ["render_dataset_card"]
