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

import numpy as np
import torch
from transformers import Pipeline

from .calibration_protst import expected_calibration_error, fit_temperature
from .fasta_protst import is_fasta, read_fasta
from .folder_protst import HubFolderMixin  # noqa: F401 - imported by the index and the embedding loops
from .index_protst import MismatchedModelError, ProteinIndex, model_metadata
from .inference_protst import embed_proteins, embed_texts, protein_features, resolve_precision, text_features
from .prior_protst import resolve_prior

# transformers 5.3 (the oldest supported) copies only the *direct* relative imports of a code file out of a local
# folder: every sibling the pipelines reach is imported here directly so that it is copied
from .processing_protst import ProtSTProcessor  # noqa: F401
from .prompts_protst import field_template, label_sets_directory, model_training_texts, prompt_key, resolve_labels
from .texts_protst import resolve_field  # noqa: F401
from .zero_shot_protst import ZeroShotClassifier, resolve_pooling

DEFAULT_TEMPLATE = "SUBCELLULAR LOCATION: {}."


class _ProtSTPipeline(Pipeline):
    """What the ProtST pipelines share: protein inputs (sequences, `(id, sequence)` pairs, FASTA), the processor,
    cached label embeddings, and the precision the towers run at.

    Args:
        precision (`str`, *optional*, defaults to `"auto"`): `auto` runs the towers under bf16 autocast where the
            device computes bf16 natively (GPUs, CPUs with AMX / AVX-512 BF16) and in float32 elsewhere, where bf16
            would be slower; `float32` or `bfloat16` force one. A pipeline made by `protst_hf.pipeline(task,
            model="name or path")` also quantises the towers to int8 where `auto` means int8 for weights (x86 CPUs
            without bf16 units) or when `precision="int8"`; for a model object, `prepare_for_inference` does it.
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
        self._classifiers: dict[tuple, ZeroShotClassifier] = {}
        self._warned: set = set()

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

    def training_texts(self) -> dict | None:
        """The model's training-text record (`training_texts.json`, written by protst-hf's pretraining), read once
        from the model folder or its Hub repository; None when the model has none."""
        if not hasattr(self, "_training_texts"):
            self._training_texts = model_training_texts(self.model)
        return self._training_texts

    def labels(self, candidate_labels=None, hypothesis_template: str | None = None,
               label_set: str | None = None, field: str | None = None) -> tuple[list[str], list[list]]:
        """(display names, the prompts of each class) of labels given as to a call (`prompts_protst.resolve_labels`);
        `field` takes the template from the model's training texts."""
        template = field_template(self.training_texts(), field) if field is not None else None
        directory = label_sets_directory(self.model) if label_set is not None else None
        return resolve_labels(candidate_labels, hypothesis_template, label_set, template, directory,
                              default_template=DEFAULT_TEMPLATE)

    def classifier(self, candidate_labels=None, hypothesis_template: str | None = None, label_set: str | None = None,
                   field: str | None = None, prior="auto", prompt_pooling: str = "auto",
                   temperature: float | None = None) -> ZeroShotClassifier:
        """The zero-shot classifier of labels given as to a call, built once and cached (prompt embeddings
        included): what the pipelines score with, and what a caller can inspect (`reasons`)."""
        return self._classifier(self._label_spec(candidate_labels, hypothesis_template, label_set, field, prior,
                                                 prompt_pooling, temperature))

    def _classifier(self, spec: _LabelSpec) -> ZeroShotClassifier:
        # a fitted temperature (`calibrate`) changes the classifier of a temperature left to the model; the spec's
        # hash is computed once, so this lookup costs nothing per protein
        key = (spec, getattr(self.model.config, "zero_shot_temperature", None))
        if key not in self._classifiers:
            self._classifiers[key] = ZeroShotClassifier.build(
                self.model, self.processor, spec.names, spec.prompts, self.training_texts(), spec.prior, spec.pooling,
                spec.temperature, dtype=self.autocast_dtype)
        return self._classifiers[key]

    def _label_spec(self, candidate_labels, hypothesis_template, label_set, field, prior, prompt_pooling,
                    temperature) -> _LabelSpec:
        """The labels and scoring choices of a call, checked (cheap: files are read, nothing is embedded)."""
        names, prompts = self.labels(candidate_labels, hypothesis_template, label_set, field)
        record = self.training_texts()
        resolve_prior(prior, record)
        resolve_pooling(prompt_pooling, record)
        if temperature is not None and not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature!r}")
        return _LabelSpec(names, prompts, prior, prompt_pooling, temperature)


class _LabelSpec:
    """The labels of a call and its scoring choices: what a cached [`ZeroShotClassifier`] is built from. Hashable by
    content, the hash computed once (a label set can hold tens of thousands of prompts)."""

    def __init__(self, names, prompts, prior, pooling, temperature):
        self.names, self.prompts, self.prior = names, prompts, prior
        self.pooling, self.temperature = pooling, temperature
        frozen_prior = tuple(sorted(prior.items())) if isinstance(prior, dict) else \
            tuple(prior) if isinstance(prior, (list, tuple)) else prior
        self.key = (tuple(names), prompt_key(prompts), frozen_prior, pooling, temperature)
        self._hash = hash(self.key)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other) -> bool:
        return isinstance(other, _LabelSpec) and self._hash == other._hash and self.key == other.key


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
                `"molecular_function"` -> `"MOLECULAR FUNCTION: {}."` for a model trained on GO texts,
                `"subcellular_location"` -> `"SUBCELLULAR LOCATION: {}."` for one trained on ProtDescribe's four
                fields): the wording its training used. A field is named by its heading or its ProtDescribe column
                (`"subloc"`, `"go_function"`). Instead of `hypothesis_template`.
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
        return super().__call__(inputs, **kwargs)

    def _sanitize_parameters(self, candidate_labels=None, hypothesis_template=None, label_set=None, temperature=None,
                             return_logits=None, supervised_model=None, alpha=None, prior="auto",
                             prompt_pooling="auto", field=None, multi_label=False, top_k=None, **kwargs):
        forward, post = {}, {}
        if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
            raise ValueError(f"top_k must be a positive integer, got {top_k!r}")
        if candidate_labels is not None or label_set is not None:
            spec = self._label_spec(candidate_labels, hypothesis_template, label_set, field, prior, prompt_pooling,
                                    temperature)
            forward["spec"] = post["spec"] = spec
            post["multi_label"] = bool(multi_label)
        elif multi_label or field is not None or hypothesis_template is not None:
            raise ValueError("multi_label, field and hypothesis_template need the labels in the same call "
                             "(candidate_labels or label_set)")
        if top_k is not None:
            post["top_k"] = top_k
        if supervised_model is not None:
            forward["supervised_model"] = supervised_model
        if alpha is not None:
            forward["alpha"] = alpha
        if return_logits is not None:
            post["return_logits"] = return_logits
        if "supervised_model" in forward and "spec" in forward:
            _supervised_columns(forward["supervised_model"], forward["spec"].names)  # fail before any protein is read
        return {}, forward, post

    def preprocess(self, inputs):
        return self._protein_inputs(inputs)

    def _forward(self, model_inputs, spec=None, supervised_model=None, alpha=1.0):
        if spec is None:
            self.labels()  # raises: what to give
        logits = self._classifier(spec).logits(self._protein_embeds(model_inputs))
        if supervised_model is not None:  # the original's ensemble
            logits = alpha * logits + self._supervised_logits(supervised_model, model_inputs, spec.names).to(
                logits.device)
        return {"logits": logits, "id": model_inputs["id"], "sequence": model_inputs["sequence"]}

    @staticmethod
    def _supervised_logits(supervised_model, model_inputs, names) -> torch.Tensor:
        """A fine-tuned classifier's logits, columns reordered to `names` (matched to its `id2label`)."""
        device = next(supervised_model.parameters()).device
        mask = model_inputs["protein_attention_mask"]
        out = supervised_model(protein_input_ids=model_inputs["protein_input_ids"].to(device),
                               protein_attention_mask=mask.to(device), return_dict=True)
        return out.logits.float()[:, _supervised_columns(supervised_model, names)]

    def postprocess(self, model_outputs, spec, multi_label=False, return_logits=False, top_k=None):
        classifier = self._classifier(spec)
        if multi_label and not classifier.label_count_known and spec not in self._warned:
            self._warned.add(spec)
            warnings.warn(classifier.reasons["multi_label"], stacklevel=2)
        logits = model_outputs["logits"][0].float()
        probabilities = classifier.probabilities(logits=logits, multi_label=multi_label).numpy()
        order = np.argsort(-probabilities, kind="stable")[:top_k]
        result = {"sequence": model_outputs["sequence"], "labels": [spec.names[i] for i in order],
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
                               kwargs.get("label_set"), kwargs.get("field"))
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
    """Text -> proteins over a `ProteinIndex` (or a list of proteins, brute force), protein -> proteins (the nearest
    neighbours in the protein embedding space, as ProtST's retrieval of similar proteins) and protein -> texts over a
    label set, a list of texts or a text index. Scores are cosines in the shared space; protein -> text over a label
    set or a list of texts ranks by posterior when a prior applies (see `prior`).

    Example:

    ```python
    >>> pipe = pipeline("protein-text-retrieval", model="ORG/protst-esm2", trust_remote_code=True)
    >>> pipe("FUNCTION: Binding to ATP.", index="ORG/swissprot-protst-index", top_k=20)
    [{'id': 'P12345', 'score': 0.61}, ...]
    >>> pipe("MKTAYIAKQR", direction="protein-to-text", label_set="subcellular_location", top_k=3)
    >>> pipe("MKTAYIAKQR", direction="protein-to-protein", index="ORG/swissprot-protst-index", top_k=5)
    ```
    """

    def __call__(self, queries, **kwargs):
        """
        Args:
            queries: a text (a protein sequence for `direction="protein-to-text"` or `"protein-to-protein"`) or a
                list of them.
            index: a `ProteinIndex`, or its folder or Hub dataset id (text or protein -> protein with an index of
                protein embeddings; protein -> text with a text index). The index must hold embeddings of this model
                (checked by fingerprint).
            proteins: instead of an index, proteins (sequences, `(id, sequence)` pairs or a FASTA path) to rank.
            candidate_texts / label_set: instead of an index, the texts to rank (protein -> text).
            direction: `text-to-protein` (default), `protein-to-protein` or `protein-to-text`.
            field: word the text queries (text -> protein) or `candidate_texts` (protein -> text) with the template of
                a text field of the model's training texts, e.g. `"molecular_function"` (or its ProtDescribe column
                `"go_function"`) -> `"MOLECULAR FUNCTION: {}."` for a model trained on GO texts, so that "ATP
                binding" is asked as training worded it.
            top_k, threshold (a cosine, or `"calibrated"` for the index's conformal threshold), nprobe, ef_search.
            prior: protein -> text over a label set or a list of texts, which are scored exactly as the zero-shot
                pipeline scores the same labels (one `ZeroShotClassifier`: its prior, prompt pooling and
                temperature): `"auto"` (default), `"training"`, `"uniform"`, or a dict of frequencies by text (by
                class name for a label set). Not applicable to searches over an index (FAISS ranks by cosine) or to
                text -> protein (a per-text term leaves the ranking of proteins unchanged): an explicit prior there
                is an error, `"auto"` applies none.

        Returns:
            per query, a list of `{"id", "score"}` (text or protein -> protein: `score` is the cosine) or `{"text",
            "score", "logit", "cosine"}` (protein -> text over texts or a label set: `score` is the zero-shot
            pipeline's probability of the text among the candidates, `logit` its logit, `cosine` the cosine to the
            text (the normalised mean of a class's prompts), which `threshold` applies to), best first; a single list
            for a single query.
        """
        kwargs = dict(kwargs)
        direction = kwargs.pop("direction", None) or "text-to-protein"
        single = isinstance(queries, str)
        target = self._search_target(direction, **{k: kwargs.pop(k, None) for k in _TARGET_ARGUMENTS if k in kwargs})
        results = super().__call__([queries] if single else queries, target=target, **kwargs)
        return results[0] if single else results

    def _sort_by_length(self) -> bool:
        return False  # queries are texts or proteins; the call is cheap next to the candidates

    def _search_target(self, direction: str, index=None, proteins=None, candidate_texts=None, label_set=None,
                       field=None, prior="auto") -> dict:
        """What a call searches, prepared once per call after every argument is checked: an index (loaded and
        checked against this model), candidate proteins (embedded), or the zero-shot classifier of candidate texts
        or a label set (protein -> text, scored exactly as the zero-shot pipeline scores labels)."""
        if direction not in _DIRECTIONS:
            raise ValueError(f"direction must be one of {', '.join(map(repr, _DIRECTIONS))}, got {direction!r}")
        query, kind = direction.split("-to-")
        template = field_template(self.training_texts(), field) if field is not None else None
        if kind == "protein" and index is None and proteins is None:
            raise ValueError(f"{query} -> protein retrieval needs an `index` or `proteins`")
        if template is not None and not (query == "text" or candidate_texts is not None):
            raise ValueError("`field` words texts given by name (the queries of a text -> protein search, or "
                             "candidate_texts); a label set has its own prompts")
        if prior != "auto" and (index is not None or kind == "protein"):
            resolve_prior(prior, self.training_texts())  # a bad value is reported as such
            if not (isinstance(prior, str) and prior == "uniform"):
                raise ValueError("a prior applies to protein -> text search over a label set or a list of texts only "
                                 "(an index ranks by cosine; a per-text term leaves a text -> protein ranking "
                                 "unchanged)")
        target = {"kind": kind, "query": query, "template": template if query == "text" else None}
        if kind == "text" and index is None:
            if candidate_texts is not None:
                if label_set is not None:
                    raise ValueError("give `candidate_texts` or `label_set`, not both")
                candidate_texts = list(candidate_texts)
                labels = {t: [template.format(t) if template else t] for t in candidate_texts}
                if len(labels) != len(candidate_texts):
                    raise ValueError("`candidate_texts` lists a text twice")
                spec = self._label_spec(labels, None, None, None, prior, "auto", None)
            else:
                spec = self._label_spec(None, None, label_set or "subcellular_location", None, prior, "auto", None)
            target["classifier"] = self._classifier(spec)
            return target
        if index is not None:
            if isinstance(index, (str, os.PathLike)):  # an index object may come from protst_hf or Hub code
                index = ProteinIndex.load(index)
            if index.metadata.get("embedding", kind) != kind:
                raise MismatchedModelError(f"a {direction} search needs an index of {kind} embeddings, this one "
                                           f"holds {index.metadata.get('embedding')!r} embeddings")
            index.check_queries(model_metadata(self.model, query))
            target["index"] = index
            return target
        records = _fasta_records(proteins) if is_fasta(proteins) else [
            tuple(p) if isinstance(p, (tuple, list)) else (None, p) for p in proteins]
        target["candidates"] = embed_proteins(self.model, self.processor, [s for _, s in records],
                                              dtype=self.autocast_dtype).numpy()
        target["names"] = [i if i is not None else s for i, s in records]
        return target

    def _sanitize_parameters(self, target=None, top_k=10, threshold=None, nprobe=None, ef_search=None, **kwargs):
        if target is None:  # the pipeline's construction: everything is given per call
            return {}, {}, {}
        search = {"target": target, "top_k": top_k, "threshold": threshold, "nprobe": nprobe, "ef_search": ef_search}
        return {"query": target["query"], "template": target["template"]}, {"query": target["query"]}, search

    def preprocess(self, inputs, query, template=None):
        if query == "protein":
            return self._protein_inputs(inputs)
        batch = self.processor(text=[template.format(inputs) if template else inputs], return_tensors="pt")
        return {"text_input_ids": batch["text_input_ids"], "text_attention_mask": batch["text_attention_mask"]}

    def _forward(self, model_inputs, query):
        if query == "protein":
            return {"query": self._protein_embeds(model_inputs)}
        return {"query": text_features(self.protst, model_inputs["text_input_ids"],
                                       model_inputs["text_attention_mask"], self.processor.tokenizer.pad_token_id,
                                       self.autocast_dtype)}

    def postprocess(self, model_outputs, target, top_k=10, threshold=None, nprobe=None, ef_search=None):
        query = model_outputs["query"]  # (1, D)
        key = "id" if target["kind"] == "protein" else "text"
        if "index" in target:
            scores, ids = target["index"].search(query.numpy(), top_k, nprobe=nprobe, ef_search=ef_search,
                                                 threshold=threshold)
            return [{key: i, "score": float(s)} for i, s in zip(ids[0], scores[0]) if not np.isnan(s)]
        if "candidates" in target:  # text or protein -> proteins, brute force
            row = (query.numpy() @ target["candidates"].T)[0]
            order = np.argsort(-row, kind="stable")[:top_k]
            return [{key: target["names"][i], "score": float(row[i])} for i in order
                    if threshold is None or row[i] >= threshold]
        # protein -> texts: the zero-shot classifier's scores over the candidates, best first
        classifier = target["classifier"]
        logits = classifier.logits(query)
        probability = classifier.probabilities(logits=logits)[0].numpy()
        cosine = classifier.cosines(query)[0].double().numpy()
        order = np.argsort(-probability, kind="stable")[:top_k]
        return [{key: classifier.names[i], "score": float(probability[i]), "logit": float(logits[0, i]),
                 "cosine": float(cosine[i])} for i in order if threshold is None or cosine[i] >= threshold]


_TARGET_ARGUMENTS = ("index", "proteins", "candidate_texts", "label_set", "field", "prior")
_DIRECTIONS = ("text-to-protein", "protein-to-protein", "protein-to-text")


__all__ = [
    "DEFAULT_TEMPLATE",
    "ProteinFeatureExtractionPipeline",
    "ProteinTextRetrievalPipeline",
    "ZeroShotProteinClassificationPipeline",
]
