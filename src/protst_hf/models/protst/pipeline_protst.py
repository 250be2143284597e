"""ProtST pipelines: zero-shot protein classification, protein/text feature extraction, protein-text retrieval.

This file is shipped to the Hub with saved models (every ProtST `save_pretrained` writes `custom_pipelines` into
the config and copies this file, its siblings and `label_sets/`), so that

    pipe = pipeline("zero-shot-protein-classification", model="ORG/protst-esm2", trust_remote_code=True)
    pipe("MKTAYIAKQRQISFVKSHFSRQ", label_set="subcellular_location")

works where `protst_hf` is not installed. It imports its siblings only.
"""

import contextlib
import csv
import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from transformers import Pipeline

from .index_protst import MismatchedModelError, ProteinIndex, model_metadata
from .processing_protst import PROTEIN_LETTERS

# name -> (file, text column, template, display-name file and column)
LABEL_SETS = {
    "subcellular_location": ("subloc_name.tsv", "name", "SUBCELLULAR LOCATION: {}."),
    "subcellular_location_description": ("subloc_template.tsv", "description", "{}"),
    "reaction": ("reaction_template.tsv", "name", "{}"),
    "reaction_description": ("reaction_template.tsv", "description", "{}"),
}
DISPLAY_NAMES = {"subcellular_location": "subloc_name.tsv", "subcellular_location_description": "subloc_name.tsv",
                 "reaction": "reaction_name.tsv", "reaction_description": "reaction_name.tsv"}
_ALLOWED = frozenset(PROTEIN_LETTERS + PROTEIN_LETTERS.lower())


def iter_fasta(lines) -> Iterator[tuple[str, str | None, str]]:
    """Stream a FASTA file's lines: yields `("record", id, sequence)` for usable records and
    `("problem", None, description)` for skipped ones (a sequence before any header, an empty sequence, a
    character that is not a residue). Sequences may span lines; whitespace and a trailing `*` are removed; ids
    are the header's first word."""
    identifier, parts, header_line, count = None, [], 0, 0

    def close():
        sequence = "".join(parts).replace(" ", "").rstrip("*")
        where = f"record {identifier!r} (line {header_line})"
        if not sequence:
            return ("problem", None, f"{where}: empty sequence")
        bad = sorted(set(sequence) - _ALLOWED)
        if bad:
            return ("problem", None, f"{where}: invalid character {bad[0]!r} at position {sequence.index(bad[0])}")
        return ("record", identifier, sequence.upper())

    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line:
            continue
        if line.startswith(">"):
            if identifier is not None:
                yield close()
            count += 1
            identifier, parts, header_line = (line[1:].split() or [f"record_{count}"])[0], [], number
        elif identifier is None:
            yield ("problem", None, f"line {number}: sequence before any '>' header")
        else:
            parts.append(line)
    if identifier is not None:
        yield close()


def read_fasta(source: str | os.PathLike) -> tuple[list[tuple[str, str]], list[str]]:
    """Records `(id, sequence)` of a FASTA file (or FASTA text starting with `>`), and the problems of the records
    that were skipped (see [`iter_fasta`])."""
    text = str(source)
    if text.lstrip().startswith(">"):
        items = list(iter_fasta(text.splitlines()))
    else:
        with open(source) as f:
            items = list(iter_fasta(f))
    records = [(i, s) for kind, i, s in items if kind == "record"]
    return records, [s for kind, _, s in items if kind == "problem"]


def label_set_texts(name: str, directory: Path) -> tuple[list[str], list[str]]:
    """(display names, label texts) of a built-in label set read from `directory`."""
    if name not in LABEL_SETS:
        raise ValueError(f"unknown label set {name!r}; built-in sets: {sorted(LABEL_SETS)}")
    filename, column, template = LABEL_SETS[name]

    def read(file):
        with open(directory / file, newline="") as f:
            return list(csv.DictReader(f, delimiter="\t"))

    texts = [template.format(row[column].strip()) for row in read(filename)]
    names = [row["name"].strip() for row in read(DISPLAY_NAMES[name])]
    return names, texts


def default_max_tokens(device) -> int:
    """Tokens per protein batch: small on CPU, where activations that stay in cache beat large matrices (ESM-2 8M,
    2 cores: 1,024 tokens per batch embeds 1.4x faster than 8,192, see benchmarks/bench_embed.py), large on GPUs."""
    return 1024 if torch.device(device).type == "cpu" else 16384


def length_batches(lengths: Sequence[int], batch_size: int, max_tokens: int | None) -> list[list[int]]:
    """Positions grouped into batches of similar lengths, longest first: at most `batch_size` proteins and, when
    `max_tokens` is set, at most that many padded tokens (a protein longer than the budget gets a batch alone)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches, current = [], []
    for i in order:
        width = lengths[current[0]] if current else lengths[i]  # the batch pads to its first (longest) protein
        if current and (len(current) == batch_size or (max_tokens and (len(current) + 1) * width > max_tokens)):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


def autocast(device, dtype: str | None):
    """`torch.autocast` for `dtype` ("bfloat16", "float16") on the device's type, or a no-op for None/"float32"."""
    if dtype in (None, "float32"):
        return contextlib.nullcontext()
    if dtype not in ("bfloat16", "float16"):
        raise ValueError(f"dtype must be float32, bfloat16 or float16, got {dtype!r}")
    return torch.autocast(torch.device(device).type, dtype=getattr(torch, dtype))


class _ProtSTPipeline(Pipeline):
    """Shared parts: the processor, the model's ProtST core, length-grouped embedding of proteins and texts."""

    _load_processor = True
    _load_tokenizer = False
    _load_image_processor = False
    _load_feature_extractor = False
    _load_video_processor = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._text_cache: dict[tuple, torch.Tensor] = {}

    # the Pipeline hooks: every ProtST pipeline batches by length in its own __call__
    def _sanitize_parameters(self, **kwargs):
        return {}, {}, kwargs

    def preprocess(self, inputs, **kwargs):
        return inputs

    def _forward(self, model_inputs, **kwargs):
        return model_inputs

    def postprocess(self, model_outputs, **kwargs):
        return model_outputs

    @property
    def protst(self):
        return getattr(self.model, "protst", self.model)

    def proteins(self, inputs) -> tuple[list[tuple[str | None, str]], bool]:
        """Normalise inputs to `(id, sequence)` records; True when a single sequence was given."""
        if isinstance(inputs, (str, os.PathLike)):
            text = str(inputs)
            if text.lstrip().startswith(">") or (len(text) < 4096 and os.path.isfile(text)):
                records, problems = read_fasta(inputs)
                if problems:
                    warnings.warn(f"{len(problems)} FASTA record(s) skipped: " + "; ".join(problems[:5]),
                                  stacklevel=3)
                if not records:
                    raise ValueError(f"no usable FASTA record in {text[:80]!r}: " + "; ".join(problems[:5]))
                return records, False
            return [(None, text)], True
        records = []
        for item in inputs:
            records.append(tuple(item) if isinstance(item, (tuple, list)) else (None, item))
        return records, False

    @torch.inference_mode()
    def embed_proteins(self, sequences: Sequence[str], batch_size: int = 64, project: bool = True,
                       normalize: bool = True, max_tokens: int | None = None, dtype: str | None = None
                       ) -> torch.Tensor:
        """(N, D) float32 embeddings on the CPU, in input order, computed in batches of similar lengths of at most
        `batch_size` proteins and `max_tokens` tokens (default: `default_max_tokens` of the device), under
        autocast to `dtype` when given."""
        lengths = [min(len(s), self.processor.protein_max_length) + 2 for s in sequences]
        result = [None] * len(sequences)
        budget = max_tokens or default_max_tokens(self.device)
        for chunk in length_batches(lengths, batch_size, budget):
            batch = self.processor(proteins=[sequences[i] for i in chunk], return_tensors="pt").to(self.device)
            with autocast(self.device, dtype):
                features = self.protst.get_protein_features(batch["protein_input_ids"],
                                                            batch["protein_attention_mask"], normalize=normalize,
                                                            project=project)
            for row, i in enumerate(chunk):
                result[i] = features[row].float().cpu()
        return torch.stack(result) if result else torch.empty(0)

    @torch.inference_mode()
    def embed_texts(self, texts: Sequence, batch_size: int = 32, project: bool = True,
                    normalize: bool = True) -> torch.Tensor:
        """(N, D) float32 text embeddings; label prompts are `[CLS]` + tokens, no `[SEP]` (the processor's string
        layout), mappings of ProtDescribe fields use the pretraining layout."""
        key = (tuple(t if isinstance(t, str) else tuple(sorted(t.items())) for t in texts), project, normalize)
        if key in self._text_cache:
            return self._text_cache[key]
        parts = []
        for start in range(0, len(texts), batch_size):
            batch = self.processor(text=list(texts[start : start + batch_size]), return_tensors="pt").to(self.device)
            parts.append(self.protst.get_text_features(batch["text_input_ids"], batch["text_attention_mask"],
                                                       normalize=normalize, project=project).float().cpu())
        embeddings = torch.cat(parts) if parts else torch.empty(0)
        self._text_cache[key] = embeddings
        return embeddings

    def logit_scale(self) -> float:
        return float(self.protst.clamped_logit_scale().detach().exp())

    def label_sets_directory(self) -> Path:
        """Where the built-in label sets are: beside this file (installed package), in the model folder, or in the
        model's Hub repository (downloaded and cached)."""
        here = Path(__file__).parent / "label_sets"
        if here.is_dir():
            return here
        source = getattr(self.model.config, "_name_or_path", "") or ""
        if (Path(source) / "label_sets").is_dir():
            return Path(source) / "label_sets"
        from transformers.utils import cached_file

        files = sorted({entry[0] for entry in LABEL_SETS.values()} | set(DISPLAY_NAMES.values()))
        paths = [cached_file(source, f"label_sets/{name}") for name in files]
        return Path(paths[0]).parent

    def labels(self, candidate_labels, hypothesis_template: str | None, label_set: str | None):
        """(display names, label texts)."""
        if label_set is not None:
            if candidate_labels is not None:
                raise ValueError("give `candidate_labels` or `label_set`, not both")
            return label_set_texts(label_set, self.label_sets_directory())
        if candidate_labels is None:
            raise ValueError("give `candidate_labels` (a list of label names) or `label_set` "
                             f"(one of {sorted(LABEL_SETS)})")
        if isinstance(candidate_labels, str):
            candidate_labels = [c.strip() for c in candidate_labels.split(",") if c.strip()]
        template = hypothesis_template if hypothesis_template is not None else "SUBCELLULAR LOCATION: {}."
        if "{}" not in template:
            raise ValueError(f"`hypothesis_template` needs a '{{}}' for the label: {template!r}")
        return list(candidate_labels), [template.format(label) for label in candidate_labels]


class ZeroShotProteinClassificationPipeline(_ProtSTPipeline):
    """Zero-shot classification of proteins against label texts, as ProtST: score = exp(logit_scale) * cosine
    between the protein embedding and each label text's embedding; scores are their softmax over the labels.

    Example:

    ```python
    >>> pipe = pipeline("zero-shot-protein-classification", model="ORG/protst-esm2", trust_remote_code=True)
    >>> pipe("MKTAYIAKQRQISFVKSHFSRQ", candidate_labels=["Nucleus", "Cytoplasm", "Secreted"])
    {'sequence': 'MKTAYIAKQRQISFVKSHFSRQ', 'labels': ['Cytoplasm', ...], 'scores': [0.51, ...]}
    >>> pipe("proteins.fasta", label_set="subcellular_location")  # one dict per record, with its "id"
    ```
    """

    def __call__(self, inputs, candidate_labels=None, hypothesis_template: str | None = None,
                 label_set: str | None = None, batch_size: int = 64, temperature: float | None = None,
                 return_logits: bool = False, supervised_model=None, alpha: float = 1.0):
        """
        Args:
            inputs: a sequence, a list of sequences (or of `(id, sequence)`), a FASTA path, or FASTA text.
            candidate_labels: label names, each put into `hypothesis_template` (default
                `"SUBCELLULAR LOCATION: {}."`, the spec's recommended prompt).
            label_set: a built-in set instead: `subcellular_location` (10 DeepLoc classes),
                `subcellular_location_description`, `reaction` (384 EC reactions), `reaction_description`.
            batch_size: at most this many proteins per forward pass; batches group similar lengths and hold at
                most `default_max_tokens` tokens.
            temperature: divides the logits before the softmax; defaults to the model's fitted
                `zero_shot_temperature` (see `calibrate`), else 1.
            return_logits: also return the logits (before the temperature) in label order.
            supervised_model: a fine-tuned `ProtSTForSequenceClassification` whose `id2label` names are the
                candidate labels: the spec's ensemble, logits = alpha * zero-shot logits + supervised logits.
            alpha: weight of the zero-shot logits in the ensemble.

        Returns:
            `{"sequence", "labels", "scores"}` (plus `"id"` for FASTA records), labels sorted by score; a list of
            them for several inputs.
        """
        names, records, logits, single = self.logits(inputs, candidate_labels, hypothesis_template, label_set,
                                                     batch_size, supervised_model, alpha)
        temperature = temperature or getattr(self.model.config, "zero_shot_temperature", None) or 1.0
        probabilities = torch.softmax(logits / temperature, dim=-1).numpy()
        results = []
        for (identifier, sequence), row, raw in zip(records, probabilities, logits.numpy()):
            order = np.argsort(-row, kind="stable")
            result = {"sequence": sequence, "labels": [names[i] for i in order], "scores": row[order].tolist()}
            if identifier is not None:
                result["id"] = identifier
            if return_logits:
                result["logits"] = raw.tolist()
            results.append(result)
        return results[0] if single else results

    def logits(self, inputs, candidate_labels=None, hypothesis_template=None, label_set=None, batch_size=64,
               supervised_model=None, alpha: float = 1.0):
        """(label names, `(id, sequence)` records, `(proteins, labels)` logits, single-input flag): the zero-shot
        logits exp(logit_scale) * cosine, or the ensemble with `supervised_model`."""
        names, texts = self.labels(candidate_labels, hypothesis_template, label_set)
        records, single = self.proteins(inputs)
        label_embeds = self.embed_texts(texts)
        protein_embeds = self.embed_proteins([s for _, s in records], batch_size)
        logits = self.logit_scale() * protein_embeds @ label_embeds.t()  # (proteins, labels)
        if supervised_model is not None:
            logits = alpha * logits + self.supervised_logits(supervised_model, [s for _, s in records], names,
                                                             batch_size)
        return names, records, logits, single

    @torch.inference_mode()
    def supervised_logits(self, supervised_model, sequences: Sequence[str], names: list[str],
                          batch_size: int = 64) -> torch.Tensor:
        """A fine-tuned classifier's logits, columns reordered to `names` (matched to its `id2label`)."""
        id2label = {int(k): v for k, v in supervised_model.config.id2label.items()}
        column = {label: i for i, label in id2label.items()}
        missing = [n for n in names if n not in column]
        if missing or len(names) != len(column):
            raise ValueError(f"the supervised model's labels {sorted(column)} must be the candidate labels "
                             f"{sorted(names)} (missing: {missing})")
        device = next(supervised_model.parameters()).device
        result = torch.zeros(len(sequences), len(names))
        lengths = [min(len(s), self.processor.protein_max_length) + 2 for s in sequences]
        for chunk in length_batches(lengths, batch_size, default_max_tokens(device)):
            batch = self.processor(proteins=[sequences[i] for i in chunk], return_tensors="pt").to(device)
            out = supervised_model(protein_input_ids=batch["protein_input_ids"],
                                   protein_attention_mask=batch["protein_attention_mask"], return_dict=True)
            result[chunk] = out.logits.float().cpu()
        return result[:, [column[n] for n in names]]

    def calibrate(self, inputs, true_labels: Sequence[str], candidate_labels=None, hypothesis_template=None,
                  label_set: str | None = None, batch_size: int = 64, supervised_model=None,
                  alpha: float = 1.0) -> dict:
        """Fit the temperature on labelled proteins (temperature scaling: the argmax, hence accuracy, is unchanged)
        and store it as `model.config.zero_shot_temperature`, saved with the model. Returns the temperature and
        the negative log-likelihood and expected calibration error before and after."""
        names, _, logits, _ = self.logits(inputs, candidate_labels, hypothesis_template, label_set, batch_size,
                                          supervised_model, alpha)
        unknown = sorted({y for y in true_labels if y not in names})
        if unknown:
            raise ValueError(f"labels {unknown[:5]} are not among the candidate labels")
        labels = np.array([names.index(y) for y in true_labels])
        if len(labels) != len(logits):
            raise ValueError(f"{len(logits)} proteins but {len(labels)} labels")
        temperature = fit_temperature(logits.numpy(), labels)
        self.model.config.zero_shot_temperature = temperature
        report = {"temperature": temperature, "proteins": len(labels)}
        for tag, t in (("before", 1.0), ("after", temperature)):
            probabilities = torch.softmax(logits.double() / t, dim=-1).numpy()
            report[f"nll_{tag}"] = float(-np.log(probabilities[np.arange(len(labels)), labels] + 1e-12).mean())
            report[f"ece_{tag}"] = expected_calibration_error(probabilities, labels)
        return report


class ProteinFeatureExtractionPipeline(_ProtSTPipeline):
    """Protein and/or text embeddings: projected to the shared space and L2-normalised (default), or the raw
    mean-pooled tower features (`project=False, normalize=False`), the input of downstream heads.

    Example:

    ```python
    >>> pipe = pipeline("protein-feature-extraction", model="ORG/protst-esm2", trust_remote_code=True)
    >>> pipe(["MKTAYIAKQR", "MVLSPADKTN"], texts=["FUNCTION: Binds DNA."])["protein_embeds"].shape
    (2, 512)
    ```
    """

    def __call__(self, inputs=None, texts: Sequence | None = None, project: bool = True, normalize: bool = True,
                 batch_size: int = 64) -> dict:
        output = {}
        if inputs is not None:
            records, _ = self.proteins(inputs)
            output["ids"] = [i for i, _ in records]
            output["protein_embeds"] = self.embed_proteins([s for _, s in records], batch_size, project,
                                                           normalize).numpy()
        if texts is not None:
            output["text_embeds"] = self.embed_texts(list(texts), project=project, normalize=normalize).numpy()
        if not output:
            raise ValueError("give proteins (`inputs`) and/or `texts`")
        return output


class ProteinTextRetrievalPipeline(_ProtSTPipeline):
    """Text -> proteins over a `ProteinIndex` (or a list of proteins, brute force), and protein -> texts over a
    label set, a list of texts or a text index. Scores are cosines in the shared space.

    Example:

    ```python
    >>> pipe = pipeline("protein-text-retrieval", model="ORG/protst-esm2", trust_remote_code=True)
    >>> pipe("FUNCTION: Binding to ATP.", index="ORG/swissprot-protst-index", top_k=20)
    [{'id': 'P12345', 'score': 0.61}, ...]
    >>> pipe("MKTAYIAKQR", direction="protein-to-text", label_set="subcellular_location", top_k=3)
    ```
    """

    def __call__(self, queries, index=None, proteins=None, candidate_texts: Sequence[str] | None = None,
                 label_set: str | None = None, direction: str = "text-to-protein", top_k: int = 10,
                 threshold=None, nprobe: int | None = None, ef_search: int | None = None, batch_size: int = 64):
        """
        Args:
            queries: a text (or protein, for `direction="protein-to-text"`) or a list of them.
            index: a `ProteinIndex`, or its folder or Hub dataset id (text -> protein; protein -> text with a text
                index). The index must hold embeddings of this model (checked by fingerprint).
            proteins: instead of an index, proteins (sequences, `(id, sequence)` pairs or a FASTA path) to rank.
            candidate_texts / label_set: instead of an index, the texts to rank (protein -> text).
            threshold: drop hits below this cosine, or `"calibrated"` for the index's conformal threshold.

        Returns:
            per query, a list of `{"id", "score"}` (text -> protein) or `{"text", "score"}` (protein -> text),
            best first; a single list for a single query.
        """
        single = isinstance(queries, str)
        queries = [queries] if single else list(queries)
        if direction not in ("text-to-protein", "protein-to-text"):
            raise ValueError(f"direction must be 'text-to-protein' or 'protein-to-text', got {direction!r}")
        if direction == "text-to-protein":
            query_embeds = self.embed_texts(queries).numpy()
            kind = "protein"
        else:
            query_embeds = self.embed_proteins(queries, batch_size).numpy()
            kind = "text"
        if index is not None:
            if isinstance(index, (str, os.PathLike)):  # an index object may come from protst_hf or Hub code
                index = ProteinIndex.load(index)
            if index.metadata.get("embedding", kind) != kind:
                raise MismatchedModelError(f"a {direction} search needs an index of {kind} embeddings, this one "
                                           f"holds {index.metadata.get('embedding')!r} embeddings")
            index.check_queries(model_metadata(self.model, "text" if kind == "protein" else "protein"))
            scores, ids = index.search(query_embeds, top_k, nprobe=nprobe, ef_search=ef_search, threshold=threshold)
            key = "id" if kind == "protein" else "text"
            results = [[{key: i, "score": float(s)} for i, s in zip(row_ids, row_scores) if not np.isnan(s)]
                       for row_ids, row_scores in zip(ids, scores)]
        elif kind == "protein":
            if proteins is None:
                raise ValueError("text -> protein retrieval needs an `index` or `proteins`")
            records, _ = self.proteins(proteins)
            candidates = self.embed_proteins([s for _, s in records], batch_size).numpy()
            names = [i if i is not None else s for i, s in records]
            results = _rank(query_embeds, candidates, names, "id", top_k, threshold)
        else:
            if label_set is not None or candidate_texts is None:
                names, texts = self.labels(None, None, label_set or "subcellular_location")
            else:
                names = texts = list(candidate_texts)
            results = _rank(query_embeds, self.embed_texts(texts).numpy(), names, "text", top_k, threshold)
        return results[0] if single else results


def _rank(queries: np.ndarray, candidates: np.ndarray, names: list, key: str, top_k: int, threshold) -> list:
    scores = queries @ candidates.T
    results = []
    for row in scores:
        order = np.argsort(-row, kind="stable")[:top_k]
        results.append([{key: names[i], "score": float(row[i])} for i in order
                        if threshold is None or row[i] >= threshold])
    return results


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """ECE: the mean gap between confidence and accuracy over equal-width confidence bins, weighted by bin size."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for low, high in zip(edges[:-1], edges[1:]):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            total += inside.mean() * abs(confidence[inside].mean() - correct[inside].mean())
    return float(total)


def fit_temperature(logits: np.ndarray, labels: np.ndarray, steps: int = 200) -> float:
    """Temperature scaling (Guo et al., 2017): the T > 0 minimising the NLL of softmax(logits / T) on a
    labelled validation set, within [0.01, 100]. Stored as `model.config.zero_shot_temperature` (see
    `ZeroShotProteinClassificationPipeline.calibrate`), the zero-shot pipeline divides by it."""
    logits = torch.as_tensor(logits, dtype=torch.float64)
    labels = torch.as_tensor(labels, dtype=torch.long)
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.5, max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    optimizer.step(closure)
    temperature = float(log_t.detach().exp())
    if not 1e-2 <= temperature <= 1e2:
        warnings.warn(f"fitted temperature {temperature:.3g} clipped to [0.01, 100]: the logits rank the labels "
                      "no better than chance (T -> infinity) or perfectly separate them (T -> 0)", stacklevel=2)
        temperature = min(max(temperature, 1e-2), 1e2)
    return temperature


__all__ = [
    "LABEL_SETS",
    "ProteinFeatureExtractionPipeline",
    "ProteinTextRetrievalPipeline",
    "ZeroShotProteinClassificationPipeline",
    "default_max_tokens",
    "expected_calibration_error",
    "fit_temperature",
    "iter_fasta",
    "label_set_texts",
    "length_batches",
    "read_fasta",
]
