"""ProtST pipelines: zero-shot protein classification, protein/text feature extraction, protein-text retrieval.

Each follows transformers' `Pipeline` contract (`_sanitize_parameters`, `preprocess`, `_forward`, `postprocess`), so
`batch_size`, `device`, and iteration over lists, generators and datasets behave as for any transformers pipeline;
`__call__` only adds FASTA input (a path or FASTA text: one result per usable record, bad records skipped with a
warning that names them) and, for lists, length-sorted batching (results come back in input order).

This file is shipped to the Hub with saved models (every ProtST `save_pretrained` writes `custom_pipelines` into
the config and copies this file, its siblings and `label_sets/`), so that

    pipe = pipeline("zero-shot-protein-classification", model="ORG/protst-esm2", trust_remote_code=True)
    pipe("MKTAYIAKQRQISFVKSHFSRQ", label_set="subcellular_location")

works where `protst_hf` is not installed. It imports its siblings only.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from transformers import Pipeline

from .fasta_protst import is_fasta, read_fasta
from .index_protst import MismatchedModelError, ProteinIndex, model_metadata
from .inference_protst import embed_proteins, embed_texts, protein_features, resolve_precision, text_features

# transformers 5.3 (the oldest supported) copies only the *direct* relative imports of a code file out of a local
# folder: every sibling the pipelines reach is imported here directly so that it is copied
from .processing_protst import ProtSTProcessor  # noqa: F401
from .scoring_protst import (
    LABEL_SETS,
    TRAINING_TEXTS_FILE,
    class_log_prior,
    class_logits,
    expected_calibration_error,
    expected_label_count,
    field_template,
    fit_temperature,
    label_probabilities,
    label_set_files,
    label_set_prompts,
    read_training_texts,
    resolve_pooling,
    resolve_prior,
    text_log_prior,
    zero_shot_logit_scale,
)

DEFAULT_TEMPLATE = "SUBCELLULAR LOCATION: {}."


class _ProtSTPipeline(Pipeline):
    """What the ProtST pipelines share: protein inputs (sequences, `(id, sequence)` pairs, FASTA), the processor,
    cached label embeddings, and the precision the towers run at.

    Args:
        precision (`str`, *optional*, defaults to `"auto"`): `auto` runs the towers under bf16 autocast where the
            device computes bf16 natively (GPUs, CPUs with AMX / AVX-512 BF16) and in float32 elsewhere, where bf16
            would be slower; `float32` or `bfloat16` force one.
    """

    _load_processor = True
    _load_tokenizer = False
    _load_image_processor = False
    _load_feature_extractor = False
    _load_video_processor = False

    def __init__(self, *args, precision: str = "auto", **kwargs):
        super().__init__(*args, **kwargs)
        resolved = resolve_precision(precision, self.device)
        if resolved == "int8":
            raise ValueError("int8 needs the weights quantised: use prepare_for_inference(model, precision='int8')")
        weights_bf16 = next(self.model.parameters()).dtype == torch.bfloat16
        self.autocast_dtype = "bfloat16" if resolved == "bfloat16" and not weights_bf16 else None
        self._text_cache: dict[tuple, torch.Tensor] = {}

    @property
    def protst(self):
        return getattr(self.model, "protst", self.model)


    def __call__(self, inputs, **kwargs):
        """Run the pipeline on one input or many; FASTA paths and text become one input per usable record."""
        if is_fasta(inputs):
            inputs = _fasta_records(inputs)
        if isinstance(inputs, (list, tuple)) and len(inputs) > 1 and self._sort_by_length():
            # similar lengths together: less padding; results go back to input order
            order = sorted(range(len(inputs)), key=lambda i: -len(_sequence_of(inputs[i])))
            results = super().__call__([inputs[i] for i in order], **kwargs)
            restored = [None] * len(inputs)
            for position, result in zip(order, results):
                restored[position] = result
            return restored
        return super().__call__(inputs, **kwargs)

    def _sort_by_length(self) -> bool:
        return True

    def _protein_inputs(self, item) -> dict:
        """One protein (a sequence or an `(id, sequence)` pair) -> its tokens, id and sequence."""
        identifier, sequence = (item[0], item[1]) if isinstance(item, (tuple, list)) else (None, item)
        batch = self.processor(proteins=[sequence], return_tensors="pt")
        return {"protein_input_ids": batch["protein_input_ids"], "protein_attention_mask":
                batch["protein_attention_mask"], "id": identifier, "sequence": sequence}

    def _protein_embeds(self, model_inputs: dict, project: bool = True, normalize: bool = True) -> torch.Tensor:
        """(B, D) float32 embeddings of a (collated) batch of `_protein_inputs`; transformers' collation pads keys it
        does not know with 0, so the tokenizer's padding is put back."""
        return protein_features(self.protst, model_inputs["protein_input_ids"], model_inputs["protein_attention_mask"],
                                self.processor.protein_tokenizer.pad_token_id, self.autocast_dtype, project, normalize)

    def prompt_embeds(self, prompts: Sequence[Sequence]) -> torch.Tensor:
        """(prompts, D) normalised embeddings of every prompt of every class, in order, cached across calls."""
        key = tuple(tuple(t if isinstance(t, str) else tuple(sorted(t.items())) for t in group) for group in prompts)
        if key not in self._text_cache:
            self._text_cache[key] = embed_texts(self.model, self.processor, [t for group in prompts for t in group],
                                                dtype=self.autocast_dtype)
        return self._text_cache[key]

    def training_texts(self) -> dict | None:
        """The model's training-text statistics (`training_texts.json`, written by protst-hf's pretraining), read
        from the model folder or its Hub repository; None when the model has none."""
        if not hasattr(self, "_training_texts"):
            source = getattr(self.model.config, "_name_or_path", "") or ""
            path = Path(source) / TRAINING_TEXTS_FILE
            if not path.is_file() and source and not Path(source).exists():
                from transformers.utils import cached_file

                try:
                    found = cached_file(source, TRAINING_TEXTS_FILE, _raise_exceptions_for_missing_entries=False)
                except OSError:
                    found = None
                path = Path(found) if found else path
            self._training_texts = read_training_texts(path) if path.is_file() else None
        return self._training_texts

    def log_prior(self, prior, names: list[str], prompts: list[list]) -> torch.Tensor | None:
        """(classes,) log prior for `prior` (`"auto"`, `"uniform"`, `"training"`, or class frequencies by name or in
        class order); None for a uniform prior. A training prior that cannot be estimated for every class falls
        back to uniform with a warning that says why."""
        record = self.training_texts()
        prior = resolve_prior(prior, record)
        if isinstance(prior, str):
            if prior == "uniform":
                return None
            log_prior, why = class_log_prior(prompts, record, names=names)
            if log_prior is None:
                warnings.warn(f"prior {why}", stacklevel=4)
            return log_prior
        return class_log_prior(prompts, frequencies=prior, names=names)[0]

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

        paths = [cached_file(source, f"label_sets/{name}") for name in label_set_files()]
        return Path(paths[0]).parent

    def labels(self, candidate_labels=None, hypothesis_template: str | None = None,
               label_set: str | None = None, field: str | None = None) -> tuple[list[str], list[list[str]]]:
        """(display names, the prompts of each class): candidate labels put into the template (one prompt each), a
        mapping of label names to their prompts (used verbatim, several per label allowed), or a built-in label set
        (which may give a class several prompts). `field` (e.g. `"molecular_function"`) takes the template from the
        model's training texts (`training_texts.json`: the layout its training used)."""
        if field is not None:
            if hypothesis_template is not None:
                raise ValueError("give `field` or `hypothesis_template`, not both")
            if label_set is not None or isinstance(candidate_labels, dict):
                raise ValueError("`field` words candidate labels given by name; a label set or labels given with "
                                 "their prompts take none")
            hypothesis_template = field_template(self.training_texts(), field)
        if label_set is not None:
            if candidate_labels is not None:
                raise ValueError("give `candidate_labels` or `label_set`, not both")
            return label_set_prompts(label_set, self.label_sets_directory())
        if candidate_labels is None:
            raise ValueError("give `candidate_labels` (a list of label names) or `label_set` "
                             f"(one of {sorted(LABEL_SETS)})")
        if isinstance(candidate_labels, dict):
            if hypothesis_template is not None:
                raise ValueError("labels given with their prompts take no `hypothesis_template`")
            prompts = [[p] if isinstance(p, str) else list(p) for p in candidate_labels.values()]
            if not prompts or any(not group for group in prompts):
                raise ValueError("every label given as a mapping needs at least one prompt")
            return [str(name) for name in candidate_labels], prompts
        if isinstance(candidate_labels, str):
            candidate_labels = [c.strip() for c in candidate_labels.split(",") if c.strip()]
        template = hypothesis_template if hypothesis_template is not None else DEFAULT_TEMPLATE
        if "{}" not in template:
            raise ValueError(f"`hypothesis_template` needs a '{{}}' for the label: {template!r}")
        return list(candidate_labels), [[template.format(label)] for label in candidate_labels]


def _fasta_records(source) -> list[tuple[str, str]]:
    """The usable `(id, sequence)` records of a FASTA path or text; skipped records are named in a warning."""
    records, problems = read_fasta(source)
    if problems:
        warnings.warn(f"{len(problems)} FASTA record(s) skipped: " + "; ".join(problems[:5]), stacklevel=3)
    if not records:
        raise ValueError(f"no usable FASTA record in {str(source)[:80]!r}: " + "; ".join(problems[:5]))
    return records


def _sequence_of(item) -> str:
    return item[1] if isinstance(item, (tuple, list)) else str(item)


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

    def __call__(self, inputs, **kwargs):
        """
        Args:
            inputs: a sequence, a list of sequences (or of `(id, sequence)`), a FASTA path or FASTA text, or an
                iterable / dataset of sequences.
            candidate_labels: label names, each put into `hypothesis_template` (default
                `"SUBCELLULAR LOCATION: {}."`, the original's recommended prompt), or a dict of label names to their
                prompts (a string or a list of strings each, used verbatim).
            label_set: a built-in set instead: `subcellular_location` (10 DeepLoc classes),
                `subcellular_location_description`, `reaction` (384 EC reactions), `reaction_description`.
            field: the template of candidate labels given by name, taken from the model's training texts (e.g.
                `"molecular_function"` -> `"MOLECULAR FUNCTION: {}."` for a model trained on GO texts): the wording
                its training used. Instead of `hypothesis_template`.
            multi_label: independent per-label scores, each the probability that the label applies (several
                labels can, as GO terms do), instead of a distribution over the labels: the model's posterior over
                the labels times the expected number of labels per protein among them (their summed training
                frequencies, from `training_texts.json`), capped at 1. The order of a protein's labels is the same
                either way. As `multi_label` of transformers' zero-shot-classification.
            top_k: keep the `top_k` best labels of each protein (default: all).
            batch_size: proteins per forward pass (transformers' pipeline batching).
            prior: the class prior added to the logits (Bayes' rule). `"auto"` (default): the model's training
                prior when its scores are density ratios (a model trained with the original's in-batch contrastive
                loss, which records its training texts), uniform for a model trained against a text bank, whose
                scores include the prior already, or without records; `"training"`: the prior estimated from the
                model's training texts (`training_texts.json`); `"uniform"`: none (the original's scores); or a
                dict of class frequencies by label name (e.g. of the population your proteins come from).
            prompt_pooling: how a class with several prompts is scored: `"mean"` (the normalised mean of its prompt
                embeddings, CLIP's prompt ensembling) or `"logsumexp"` (the log sum of the prompts' exp-logits: a
                class is as likely as its texts together); `"auto"` (default): log-sum-exp for a model trained
                against a text bank, whose logits are log-probabilities of texts, the mean otherwise.
            temperature: divides the logits before the softmax; defaults to the model's fitted
                `zero_shot_temperature` (see `calibrate`), else 1.
            return_logits: also return the logits (before the temperature) in label order.
            supervised_model: a fine-tuned `ProtSTForSequenceClassification` whose `id2label` names are the
                candidate labels: the original's ensemble, logits = alpha * zero-shot logits + supervised logits.
            alpha: weight of the zero-shot logits in the ensemble.

        Returns:
            `{"sequence", "labels", "scores"}` (plus `"id"` for FASTA records and pairs), labels sorted by score; a
            list of them for several inputs.
        """
        if kwargs.get("candidate_labels") is None and kwargs.get("label_set") is None \
                and "label_texts" not in self._forward_params:
            self.labels()  # raises: what to give
        return super().__call__(inputs, **kwargs)

    def _sanitize_parameters(self, candidate_labels=None, hypothesis_template=None, label_set=None, temperature=None,
                             return_logits=None, supervised_model=None, alpha=None, prior="auto",
                             prompt_pooling="auto", field=None, multi_label=False, top_k=None, **kwargs):
        forward, post = {}, {}
        prompt_pooling = resolve_pooling(prompt_pooling, self.training_texts())
        if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
            raise ValueError(f"top_k must be a positive integer, got {top_k!r}")
        if candidate_labels is not None or label_set is not None:
            names, texts = self.labels(candidate_labels, hypothesis_template, label_set, field)
            forward.update(label_texts=texts, names=names, pooling=prompt_pooling,
                           log_prior=self.log_prior(prior, names, texts))
            post["names"] = names
            if multi_label:
                expected, why = expected_label_count(texts, self.training_texts())
                if why:
                    warnings.warn(why, stacklevel=3)
                post["multi_label_count"] = expected
        elif multi_label:
            raise ValueError("multi_label needs the labels in the same call (candidate_labels or label_set)")
        if top_k is not None:
            post["top_k"] = top_k
        if supervised_model is not None:
            forward["supervised_model"] = supervised_model
        if alpha is not None:
            forward["alpha"] = alpha
        if temperature is not None:
            post["temperature"] = temperature
        if return_logits is not None:
            post["return_logits"] = return_logits
        if "supervised_model" in forward and "names" in forward:
            _supervised_columns(forward["supervised_model"], forward["names"])  # fail before any protein is read
        return {}, forward, post

    def preprocess(self, inputs):
        return self._protein_inputs(inputs)

    def _forward(self, model_inputs, label_texts, names, pooling="mean", log_prior=None, supervised_model=None,
                 alpha=1.0):
        proteins = self._protein_embeds(model_inputs)
        owner = [c for c, group in enumerate(label_texts) for _ in group]
        logits = class_logits(proteins, self.prompt_embeds(label_texts), owner, len(label_texts),
                              zero_shot_logit_scale(self.model), pooling, log_prior)
        if supervised_model is not None:
            logits = alpha * logits + self._supervised_logits(supervised_model, model_inputs, names).to(logits.device)
        return {"logits": logits, "id": model_inputs["id"], "sequence": model_inputs["sequence"]}

    @staticmethod
    def _supervised_logits(supervised_model, model_inputs, names) -> torch.Tensor:
        """A fine-tuned classifier's logits, columns reordered to `names` (matched to its `id2label`)."""
        device = next(supervised_model.parameters()).device
        mask = model_inputs["protein_attention_mask"]
        out = supervised_model(protein_input_ids=model_inputs["protein_input_ids"].to(device),
                               protein_attention_mask=mask.to(device), return_dict=True)
        return out.logits.float()[:, _supervised_columns(supervised_model, names)]

    def postprocess(self, model_outputs, names, temperature=None, return_logits=False, multi_label_count=None,
                    top_k=None):
        logits = model_outputs["logits"][0].float()
        temperature = temperature or getattr(self.model.config, "zero_shot_temperature", None) or 1.0
        probabilities = label_probabilities(logits, temperature, multi_label_count).numpy()
        order = np.argsort(-probabilities, kind="stable")[:top_k]
        result = {"sequence": model_outputs["sequence"], "labels": [names[i] for i in order],
                  "scores": probabilities[order].tolist()}
        if model_outputs["id"] is not None:
            result["id"] = model_outputs["id"]
        if return_logits:
            result["logits"] = logits.tolist()
        return result

    def calibrate(self, inputs, true_labels: Sequence[str], batch_size: int = 64, **kwargs) -> dict:
        """Fit the temperature on labelled proteins (temperature scaling: the argmax, hence accuracy, is unchanged)
        and store it as `model.config.zero_shot_temperature`, saved with the model. `kwargs` are those of a call
        (`candidate_labels` or `label_set`, ...). Returns the temperature and the negative log-likelihood and
        expected calibration error before and after."""
        results = self(inputs, return_logits=True, temperature=1.0, batch_size=batch_size, **kwargs)
        results = results if isinstance(results, list) else [results]
        names, _ = self.labels(kwargs.get("candidate_labels"), kwargs.get("hypothesis_template"),
                               kwargs.get("label_set"))
        unknown = sorted({y for y in true_labels if y not in names})
        if unknown:
            raise ValueError(f"labels {unknown[:5]} are not among the candidate labels")
        labels = np.array([names.index(y) for y in true_labels])
        if len(labels) != len(results):
            raise ValueError(f"{len(results)} proteins but {len(labels)} labels")
        logits = np.array([r["logits"] for r in results])
        temperature = fit_temperature(logits, labels)
        self.model.config.zero_shot_temperature = temperature
        report = {"temperature": temperature, "proteins": len(labels)}
        for tag, t in (("before", 1.0), ("after", temperature)):
            probabilities = torch.softmax(torch.as_tensor(logits, dtype=torch.float64) / t, dim=-1).numpy()
            report[f"nll_{tag}"] = float(-np.log(probabilities[np.arange(len(labels)), labels] + 1e-12).mean())
            report[f"ece_{tag}"] = expected_calibration_error(probabilities, labels)
        return report


def _supervised_columns(supervised_model, names: list[str]) -> list[int]:
    id2label = {int(k): v for k, v in supervised_model.config.id2label.items()}
    column = {label: i for i, label in id2label.items()}
    missing = [n for n in names if n not in column]
    if missing or len(names) != len(column):
        raise ValueError(f"the supervised model's labels {sorted(column)} must be the candidate labels "
                         f"{sorted(names)} (missing: {missing})")
    return [column[n] for n in names]


class ProteinFeatureExtractionPipeline(_ProtSTPipeline):
    """Protein embeddings: projected to the shared space and L2-normalised (default), or the raw mean-pooled tower
    features (`project=False, normalize=False`), the input of downstream heads; texts too, with `texts=`.

    A list or FASTA input gives one dict of arrays for all proteins (`ids`, `protein_embeds` of shape (N, D), and
    `text_embeds` when `texts` are given); an iterator or dataset yields `{"id", "protein_embeds"}` per protein.

    Example:

    ```python
    >>> pipe = pipeline("protein-feature-extraction", model="ORG/protst-esm2", trust_remote_code=True)
    >>> pipe(["MKTAYIAKQR", "MVLSPADKTN"], texts=["FUNCTION: Binds DNA."])["protein_embeds"].shape
    (2, 512)
    ```
    """

    def __call__(self, inputs=None, texts: Sequence | None = None, **kwargs):
        if inputs is None and texts is None:
            raise ValueError("give proteins (`inputs`) and/or `texts`")
        output = {}
        if inputs is not None:
            single = isinstance(inputs, str) and not is_fasta(inputs)
            results = super().__call__([inputs] if single else inputs, **kwargs)
            if not isinstance(results, list):  # an iterator over a dataset: per-protein results
                return results
            output["ids"] = [r["id"] for r in results]
            output["protein_embeds"] = np.stack([r["protein_embeds"] for r in results])
        if texts is not None:
            project, normalize = kwargs.get("project", True), kwargs.get("normalize", True)
            output["text_embeds"] = embed_texts(self.model, self.processor, list(texts), project=project,
                                                normalize=normalize, dtype=self.autocast_dtype).numpy()
        return output

    def _sanitize_parameters(self, project=True, normalize=True, **kwargs):
        return {}, {"project": project, "normalize": normalize}, {}

    def preprocess(self, inputs):
        return self._protein_inputs(inputs)

    def _forward(self, model_inputs, project=True, normalize=True):
        return {"protein_embeds": self._protein_embeds(model_inputs, project, normalize), "id": model_inputs["id"]}

    def postprocess(self, model_outputs):
        return {"id": model_outputs["id"], "protein_embeds": model_outputs["protein_embeds"][0].numpy()}


class ProteinTextRetrievalPipeline(_ProtSTPipeline):
    """Text -> proteins over a `ProteinIndex` (or a list of proteins, brute force), and protein -> texts over a
    label set, a list of texts or a text index. Scores are cosines in the shared space; protein -> text over a label
    set or a list of texts ranks by posterior when a prior applies (see `prior`).

    Example:

    ```python
    >>> pipe = pipeline("protein-text-retrieval", model="ORG/protst-esm2", trust_remote_code=True)
    >>> pipe("FUNCTION: Binding to ATP.", index="ORG/swissprot-protst-index", top_k=20)
    [{'id': 'P12345', 'score': 0.61}, ...]
    >>> pipe("MKTAYIAKQR", direction="protein-to-text", label_set="subcellular_location", top_k=3)
    ```
    """

    def __call__(self, queries, **kwargs):
        """
        Args:
            queries: a text (or protein, for `direction="protein-to-text"`) or a list of them.
            index: a `ProteinIndex`, or its folder or Hub dataset id (text -> protein; protein -> text with a text
                index). The index must hold embeddings of this model (checked by fingerprint).
            proteins: instead of an index, proteins (sequences, `(id, sequence)` pairs or a FASTA path) to rank.
            candidate_texts / label_set: instead of an index, the texts to rank (protein -> text).
            direction: `text-to-protein` (default) or `protein-to-text`.
            field: word the text queries (text -> protein) or `candidate_texts` (protein -> text) with the template of
                a text field of the model's training texts, e.g. `"molecular_function"` -> `"MOLECULAR FUNCTION:
                {}."` for a model trained on GO texts, so that "ATP binding" is asked as training worded it.
            top_k, threshold (a cosine, or `"calibrated"` for the index's conformal threshold), nprobe, ef_search.
            prior: protein -> text over a label set or a list of texts: the prior of each candidate text added to
                its logit, `exp(logit_scale) * cosine + log p(text)`, so that texts are ranked by posterior (see
                the zero-shot pipeline). `"auto"` (default): the training prior for a model whose scores are
                density ratios (the original's in-batch objective), none for a text-bank model or a model without
                recorded training texts; `"training"`, `"uniform"`, or a dict of frequencies by text (by class name
                for a label set). A text never seen in training gets a count of 0.5. Not applicable to searches
                over an index (FAISS ranks by cosine) or to text -> protein (a per-text term leaves the ranking of
                proteins unchanged): an explicit prior there is an error, `"auto"` applies none.

        Returns:
            per query, a list of `{"id", "score"}` (text -> protein) or `{"text", "score", "cosine"}` (protein ->
            text; `score` is the cosine without a prior, the logit with one), best first; a single list for a
            single query.
        """
        kwargs.setdefault("direction", "text-to-protein")
        if kwargs["direction"] == "text-to-protein" and kwargs.get("index") is None and kwargs.get("proteins") is None:
            raise ValueError("text -> protein retrieval needs an `index` or `proteins`")
        single = isinstance(queries, str)
        results = super().__call__([queries] if single else queries, **kwargs)
        return results[0] if single else results

    def _sort_by_length(self) -> bool:
        return False  # queries are texts or proteins; the call is cheap next to the candidates

    def _sanitize_parameters(self, index=None, proteins=None, candidate_texts=None, label_set=None,
                             direction=None, top_k=10, threshold=None, nprobe=None, ef_search=None, prior="auto",
                             field=None, **kwargs):
        if direction is None:  # the pipeline's construction: everything is given per call
            return {}, {}, {}
        template = field_template(self.training_texts(), field) if field is not None else None
        if direction not in ("text-to-protein", "protein-to-text"):
            raise ValueError(f"direction must be 'text-to-protein' or 'protein-to-text', got {direction!r}")
        kind = "protein" if direction == "text-to-protein" else "text"
        search = {"top_k": top_k, "threshold": threshold, "key": "id" if kind == "protein" else "text"}
        if prior != "auto" and (index is not None or kind == "protein"):
            resolve_prior(prior, self.training_texts())  # a bad value is reported as such
            if not (isinstance(prior, str) and prior == "uniform"):
                raise ValueError("a prior applies to protein -> text search over a label set or a list of texts only "
                                 "(an index ranks by cosine; a per-text term leaves a text -> protein ranking "
                                 "unchanged)")
        if index is not None:
            if isinstance(index, (str, os.PathLike)):  # an index object may come from protst_hf or Hub code
                index = ProteinIndex.load(index)
            if index.metadata.get("embedding", kind) != kind:
                raise MismatchedModelError(f"a {direction} search needs an index of {kind} embeddings, this one "
                                           f"holds {index.metadata.get('embedding')!r} embeddings")
            index.check_queries(model_metadata(self.model, "text" if kind == "protein" else "protein"))
            search.update(index=index, nprobe=nprobe, ef_search=ef_search)
        elif kind == "protein":
            records = _fasta_records(proteins) if is_fasta(proteins) else [
                tuple(p) if isinstance(p, (tuple, list)) else (None, p) for p in proteins]
            search["candidates"] = embed_proteins(self.model, self.processor, [s for _, s in records],
                                                  dtype=self.autocast_dtype).numpy()
            search["names"] = [i if i is not None else s for i, s in records]
        else:
            if label_set is not None or candidate_texts is None:
                names, prompts = self.labels(None, None, label_set or "subcellular_location")
                log_prior = self.log_prior(prior, names, prompts)
            else:
                names = list(candidate_texts)
                prompts = [[template.format(t) if template else t] for t in candidate_texts]
                log_prior = self._text_log_prior(prior, [group[0] for group in prompts])
            search.update(prompts=self.prompt_embeds(prompts), owner=[c for c, g in enumerate(prompts) for _ in g],
                          scale=zero_shot_logit_scale(self.model), log_prior=log_prior, names=names)
        if template is not None and kind == "text" and candidate_texts is None:
            raise ValueError("`field` words texts given by name (the queries of a text -> protein search, or "
                             "candidate_texts); a label set has its own prompts")
        return {"kind": kind, "template": template}, {"kind": kind}, search

    def _text_log_prior(self, prior, texts: list[str]) -> torch.Tensor | None:
        record = self.training_texts()
        prior = resolve_prior(prior, record)
        if isinstance(prior, str):
            return None if prior == "uniform" else text_log_prior(texts, record)
        return class_log_prior([[t] for t in texts], frequencies=prior, names=texts)[0]

    def preprocess(self, inputs, kind, template=None):
        if kind == "text":  # protein -> text: the query is a protein
            return self._protein_inputs(inputs)
        batch = self.processor(text=[template.format(inputs) if template else inputs], return_tensors="pt")
        return {"text_input_ids": batch["text_input_ids"], "text_attention_mask": batch["text_attention_mask"]}

    def _forward(self, model_inputs, kind):
        if kind == "text":
            return {"query": self._protein_embeds(model_inputs)}
        return {"query": text_features(self.protst, model_inputs["text_input_ids"],
                                       model_inputs["text_attention_mask"], self.processor.tokenizer.pad_token_id,
                                       self.autocast_dtype)}

    def postprocess(self, model_outputs, key, top_k=10, threshold=None, index=None, nprobe=None, ef_search=None,
                    candidates=None, names=None, prompts=None, owner=None, scale=1.0, log_prior=None):
        query = model_outputs["query"]  # (1, D)
        if index is not None:
            scores, ids = index.search(query.numpy(), top_k, nprobe=nprobe, ef_search=ef_search, threshold=threshold)
            return [{key: i, "score": float(s)} for i, s in zip(ids[0], scores[0]) if not np.isnan(s)]
        if candidates is not None:  # text -> proteins, brute force
            row = (query.numpy() @ candidates.T)[0]
            order = np.argsort(-row, kind="stable")[:top_k]
            return [{key: names[i], "score": float(row[i])} for i in order if threshold is None or row[i] >= threshold]
        # protein -> texts: cosines to each candidate (the mean of its prompts), ranked by posterior with a prior
        cosine = (class_logits(query, prompts, owner, len(names), 1.0))[0].double().numpy()
        score = cosine if log_prior is None else scale * cosine + log_prior.double().numpy()
        order = np.argsort(-score, kind="stable")[:top_k]
        return [{key: names[i], "score": float(score[i]), "cosine": float(cosine[i])} for i in order
                if threshold is None or cosine[i] >= threshold]


__all__ = [
    "DEFAULT_TEMPLATE",
    "ProteinFeatureExtractionPipeline",
    "ProteinTextRetrievalPipeline",
    "ZeroShotProteinClassificationPipeline",
]
