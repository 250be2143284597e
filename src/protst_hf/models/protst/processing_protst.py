"""ProtSTProcessor: an ESM tokenizer for proteins and a BERT-family tokenizer for text, with input validation.

This file is shipped to the Hub with saved models: it imports its sibling `texts_protst` only.
"""

import math
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
from transformers import BatchEncoding, ProcessorMixin

from .texts_protst import TEXT_FIELDS

# 20 standard residues plus the rare letters ESM has tokens for: B (D/N), Z (E/Q), U (Sec), O (Pyl), X (any). The one
# definition of a valid protein in protst-hf: the processor, the pipelines, FASTA reading, the task loader and the
# pretraining data all check residues with `clean_protein` below.
PROTEIN_LETTERS = "ACDEFGHIKLMNPQRSTVWYBZUOX"
# ASCII code -> is a protein letter (upper case; input is upper-cased first)
_IS_RESIDUE = np.zeros(128, dtype=bool)
_IS_RESIDUE[[ord(c) for c in PROTEIN_LETTERS]] = True


def clean_protein(protein, name: str = "protein") -> str:
    """The residues of `protein`: whitespace removed (anywhere), upper-cased, a trailing `*` (stop) removed.

    Raises:
        `ValueError` naming `name`, for a protein that is not a string, is empty, or holds a character that is not
        one of the 20 standard residues or B, Z, U, O, X (with the character and its position).
    """
    if not isinstance(protein, str):
        raise ValueError(f"{name} is a {type(protein).__name__}, not a string")
    sequence = "".join(protein.split()).upper().rstrip("*")
    if not sequence:
        raise ValueError(f"{name}: empty sequence")
    codes = np.frombuffer(sequence.encode("utf-32-le"), dtype=np.uint32)
    bad = np.flatnonzero((codes >= 128) | ~_IS_RESIDUE[np.minimum(codes, 127)])
    if bad.size:
        position = int(bad[0])
        raise ValueError(f"{name}: invalid character {sequence[position]!r} at position {position} "
                         f"(allowed: {PROTEIN_LETTERS})")
    return sequence


class ProtSTProcessor(ProcessorMixin):
    r"""
    Turns proteins and texts into the inputs of the ProtST models.

    Proteins (a string or a list): whitespace anywhere and trailing `*` are removed, letters upper-cased; any
    character outside the 20 standard residues and B, Z, U, O, X raises `ValueError` naming the protein index,
    the character and its position; an empty protein raises too. Proteins longer than `protein_max_length`
    (1022, ESM's limit) are truncated with a warning that counts them (or rejected with `truncation=False`);
    `crop_length` takes a random window instead (450 in pretraining, as the original's `TruncateProtein`).
    Tokens are `<cls> residues <eos>`, exactly what the ESM tokenizer produces, computed by table lookup.

    Texts (a string, a mapping of the ProtDescribe fields, or a list of either):
    - a string is one field: `[CLS]` + at most `text_field_max_length` tokens, no `[SEP]`, the original's
      layout for zero-shot label prompts;
    - a mapping with keys among `prot_name`, `function`, `subloc`, `similarity` is the pretraining layout
      `[CLS] name [SEP] function [SEP] location [SEP] similarity`, each field tokenised without special
      tokens and capped at `text_field_max_length` (128). Deviation from the original, which pads inside each
      field and reaches 1 + 4 * 128 + 3 = 516 positions (over BERT's 512): fields are packed without interior
      padding, and when the total would exceed `text_max_length` the longest fields are shortened first.

    Args:
        protein_tokenizer ([`EsmTokenizer`]): the protein tokenizer (saved in the `protein_tokenizer/` subfolder).
        tokenizer ([`PreTrainedTokenizerBase`]): the text tokenizer, e.g. PubMedBERT's (saved at the top level).
        protein_max_length (`int`, *optional*, defaults to 1022): residues kept per protein.
        text_field_max_length (`int`, *optional*, defaults to 128): tokens kept per text field.
        text_max_length (`int`, *optional*, defaults to 512): positions of the text model, `[CLS]`/`[SEP]`
            included; never exceeded.
        truncation_policy (`str`, *optional*, defaults to `"n_terminal"`): which `protein_max_length` residues of a
            longer protein are kept: `n_terminal` (the first ones, the original) or `termini` (both ends, for a model
            pretrained on terminal crops: inference then sees what training saw; see [`crop`]).

    Example:

    ```python
    >>> processor = ProtSTProcessor(protein_tokenizer=esm_tokenizer, tokenizer=bert_tokenizer)
    >>> batch = processor(proteins=["MKTAYIAKQR", "mvlspadktn"], text=["Nucleus.", "Cytoplasm."],
    ...                   return_tensors="pt", padding=True)
    >>> sorted(batch.keys())
    ['protein_attention_mask', 'protein_input_ids', 'text_attention_mask', 'text_input_ids']
    ```
    """

    def __init__(
        self,
        protein_tokenizer=None,
        tokenizer=None,
        protein_max_length: int = 1022,
        text_field_max_length: int = 128,
        text_max_length: int = 512,
        truncation_policy: str = "n_terminal",
        **kwargs,
    ):
        if truncation_policy not in ("n_terminal", "termini"):
            raise ValueError(f"`truncation_policy` must be 'n_terminal' or 'termini', got {truncation_policy!r}")
        if protein_tokenizer is None or tokenizer is None:
            raise ValueError("ProtSTProcessor needs both `protein_tokenizer` and `tokenizer` (the text tokenizer)")
        if protein_max_length < 1 or text_field_max_length < 1:
            raise ValueError("`protein_max_length` and `text_field_max_length` must be positive")
        if text_max_length < 1 + len(TEXT_FIELDS):
            raise ValueError(f"`text_max_length` must leave room for [CLS] and the [SEP]s, got {text_max_length}")
        self.protein_max_length = protein_max_length
        self.text_field_max_length = text_field_max_length
        self.text_max_length = text_max_length
        self.truncation_policy = truncation_policy
        super().__init__(protein_tokenizer, tokenizer, **kwargs)

        vocab = protein_tokenizer.get_vocab()
        missing = [c for c in PROTEIN_LETTERS if c not in vocab]
        if missing:
            raise ValueError(f"the protein tokenizer has no token for {missing}: it is not an ESM tokenizer")
        # ASCII code -> protein token id, -1 for anything not allowed
        self._protein_lookup = np.full(128, -1, dtype=np.int64)
        for letter in PROTEIN_LETTERS:
            self._protein_lookup[ord(letter)] = vocab[letter]
        for name in ("cls_token_id", "eos_token_id", "pad_token_id", "mask_token_id"):
            if getattr(protein_tokenizer, name) is None:
                raise ValueError(f"the protein tokenizer has no `{name}`")
        for name in ("cls_token_id", "sep_token_id", "pad_token_id"):
            if getattr(tokenizer, name) is None:
                raise ValueError(f"the text tokenizer has no `{name}`")

    @property
    def model_input_names(self) -> list[str]:
        return ["protein_input_ids", "protein_attention_mask", "text_input_ids", "text_attention_mask"]

    @classmethod
    def from_protein_text_pretrained(cls, protein_model_name_or_path: str, text_model_name_or_path: str, **kwargs):
        """Build a processor from the tokenizers of a protein and a text checkpoint (hub ids or folders).

        `text_max_length` defaults to the text checkpoint's `max_position_embeddings` when it has a config.
        """
        from transformers import AutoConfig, AutoTokenizer

        protein_tokenizer = AutoTokenizer.from_pretrained(protein_model_name_or_path)
        tokenizer = AutoTokenizer.from_pretrained(text_model_name_or_path)
        if "text_max_length" not in kwargs:
            try:
                kwargs["text_max_length"] = AutoConfig.from_pretrained(text_model_name_or_path).max_position_embeddings
            except (OSError, ValueError, AttributeError):
                pass
        return cls(protein_tokenizer=protein_tokenizer, tokenizer=tokenizer, **kwargs)

    def __call__(
        self,
        proteins: str | Sequence[str] | None = None,
        text: str | Mapping | Sequence | None = None,
        return_tensors: str | None = None,
        padding: bool | str = True,
        truncation: bool = True,
        crop_length: int | None = None,
        rng: np.random.Generator | None = None,
        pad_to_multiple_of: int | None = None,
        crop_policy: str = "random",
        **kwargs,
    ) -> BatchEncoding:
        """Tokenize proteins and/or texts.

        Args:
            proteins (`str` or `list[str]`, *optional*): amino-acid sequences.
            text (`str`, `dict`, or a list of them, *optional*): texts or ProtDescribe field mappings.
            return_tensors (`str`, *optional*): `"pt"` or `"np"`; lists when unset.
            padding (`bool` or `str`): `True`/`"longest"` pads each side to its longest item, `"max_length"` to
                `protein_max_length + 2` / `text_max_length`, `False` does not pad.
            truncation (`bool`): truncate proteins over `protein_max_length` (with a warning); `False` raises.
            crop_length (`int`, *optional*): crop longer proteins to this many residues (by `crop_policy`).
            rng (`numpy.random.Generator`, *optional*): source of the crop positions (reproducible crops).
            crop_policy (`str`): `random` (a random window, the original's `TruncateProtein(random=True)`),
                `n_terminal` (the first residues) or `termini` (both ends; see [`crop`]).
            pad_to_multiple_of (`int`, *optional*): round padded lengths up to a multiple of this.

        Returns:
            [`BatchEncoding`] with `protein_input_ids`, `protein_attention_mask` and/or `text_input_ids`,
            `text_attention_mask`.
        """
        if kwargs:
            raise TypeError(f"unexpected arguments: {sorted(kwargs)}")
        if proteins is None and text is None:
            raise ValueError("give `proteins`, `text`, or both")
        if padding not in (True, False, "longest", "max_length", "do_not_pad"):
            raise ValueError(f"`padding` must be True, False, 'longest' or 'max_length', got {padding!r}")
        data = {}
        if proteins is not None:
            ids = self.tokenize_proteins(proteins, truncation=truncation, crop_length=crop_length, rng=rng,
                                         crop_policy=crop_policy)
            max_length = self.protein_max_length + 2 if padding == "max_length" else None
            data["protein_input_ids"], data["protein_attention_mask"] = _pad(
                ids, self.protein_tokenizer.pad_token_id, padding, max_length, pad_to_multiple_of
            )
        if text is not None:
            ids = self.tokenize_texts(text)
            max_length = self.text_max_length if padding == "max_length" else None
            data["text_input_ids"], data["text_attention_mask"] = _pad(
                ids, self.tokenizer.pad_token_id, padding, max_length, pad_to_multiple_of
            )
        return BatchEncoding(data, tensor_type=return_tensors)

    def clean_protein(self, protein, index: int = 0) -> str:
        """[`clean_protein`] with errors naming the protein's index."""
        return clean_protein(protein, f"protein {index}")

    def tokenize_proteins(
        self,
        proteins: str | Sequence[str],
        truncation: bool = True,
        crop_length: int | None = None,
        rng: np.random.Generator | None = None,
        crop_policy: str = "random",
    ) -> list[list[int]]:
        """Token ids `<cls> residues <eos>` per protein, unpadded; longer proteins cropped to `crop_length` residues
        by `crop_policy` (see [`crop`])."""
        if isinstance(proteins, str):
            proteins = [proteins]
        if crop_length is not None and not 0 < crop_length <= self.protein_max_length:
            raise ValueError(f"`crop_length` must be in [1, {self.protein_max_length}], got {crop_length}")
        cls_id, eos_id = self.protein_tokenizer.cls_token_id, self.protein_tokenizer.eos_token_id
        result, truncated = [], []
        for index, protein in enumerate(proteins):
            sequence = self.clean_protein(protein, index)
            if crop_length is not None and len(sequence) > crop_length:
                sequence = crop(sequence, crop_length, crop_policy, rng)
            elif len(sequence) > self.protein_max_length:
                if not truncation:
                    raise ValueError(
                        f"protein {index} has {len(sequence)} residues, over `protein_max_length` "
                        f"({self.protein_max_length}); pass truncation=True or crop_length"
                    )
                truncated.append(index)
                sequence = crop(sequence, self.protein_max_length, self.truncation_policy)
            codes = np.frombuffer(sequence.encode("ascii"), dtype=np.uint8)
            result.append([cls_id, *self._protein_lookup[codes].tolist(), eos_id])
        if truncated and not getattr(self, "_warned_truncation", False):
            self._warned_truncation = True  # once per processor: a model that reads short crops truncates often
            warnings.warn(
                f"{len(truncated)} protein(s) longer than {self.protein_max_length} residues were truncated to "
                f"{self.protein_max_length} ({self.truncation_policy.replace('_', '-')}; indices "
                f"{truncated[:10]}{'...' if len(truncated) > 10 else ''}; later truncations are not reported)",
                stacklevel=3,
            )
        return result

    def tokenize_texts(self, text: str | Mapping | Sequence) -> list[list[int]]:
        """Token ids per text, unpadded, in the layouts described in the class docstring."""
        if isinstance(text, (str, Mapping)):
            text = [text]
        # one tokenizer call for every field of every text
        pieces, layout = [], []
        for index, item in enumerate(text):
            if isinstance(item, str):
                layout.append((index, None))
                pieces.append(item)
            elif isinstance(item, Mapping):
                unknown = set(item) - set(TEXT_FIELDS)
                if unknown:
                    raise ValueError(f"text {index}: unknown field(s) {sorted(unknown)}; fields are {TEXT_FIELDS}")
                for field in TEXT_FIELDS:
                    value = item.get(field)
                    value = "" if value is None else value
                    if not isinstance(value, str):
                        raise ValueError(f"text {index}: field {field!r} is a {type(value).__name__}, not a string")
                    pieces.append(value)
                layout.append((index, len(TEXT_FIELDS)))
            else:
                raise ValueError(f"text {index} is a {type(item).__name__}, not a string or a mapping of fields")
        field_ids = self.tokenizer(
            pieces, add_special_tokens=False, truncation=True, max_length=self.text_field_max_length
        )["input_ids"]

        cls_id, sep_id = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        result, cursor = [], 0
        for index, num_fields in layout:
            if num_fields is None:
                ids = field_ids[cursor][: self.text_max_length - 1]
                cursor += 1
                if not ids:
                    raise ValueError(f"text {index} is empty")
                result.append([cls_id, *ids])
                continue
            fields = field_ids[cursor : cursor + num_fields]
            cursor += num_fields
            if not any(fields):
                raise ValueError(f"text {index}: every field is empty")
            budget = self.text_max_length - 1 - (num_fields - 1)  # minus [CLS] and the [SEP]s between fields
            lengths = fit_lengths([len(f) for f in fields], budget)
            ids = [cls_id]
            for position, (field, length) in enumerate(zip(fields, lengths)):
                if position:
                    ids.append(sep_id)
                ids.extend(field[:length])
            result.append(ids)
        return result

    def batch_decode(self, *args, **kwargs):
        """Decode text token ids with the text tokenizer."""
        return self.tokenizer.batch_decode(*args, **kwargs)

    def decode(self, *args, **kwargs):
        """Decode text token ids with the text tokenizer."""
        return self.tokenizer.decode(*args, **kwargs)


CROP_POLICIES = ("random", "n_terminal", "termini")
# `termini` keeps this share of the residues from the N-terminus, the rest from the C-terminus: signal peptides and
# mitochondrial / plastid transit peptides sit in the first tens of residues, PTS1, KDEL and GPI signals in the last
TERMINI_N_SHARE = 0.75


def crop(sequence: str, length: int, policy: str = "random", rng: np.random.Generator | None = None) -> str:
    """`length` residues of a longer `sequence`.

    - `random`: a window at a uniformly random start (the original's pretraining crop).
    - `n_terminal`: the first `length` residues.
    - `termini`: the first `ceil(TERMINI_N_SHARE * length)` residues and the rest from the C-terminus, joined:
      the ends of a protein carry its sorting signals, a window from the middle usually none.
    """
    if len(sequence) <= length:
        return sequence
    if policy == "random":
        rng = rng if rng is not None else np.random.default_rng()
        start = int(rng.integers(0, len(sequence) - length + 1))
        return sequence[start : start + length]
    if policy == "n_terminal":
        return sequence[:length]
    if policy == "termini":
        head = math.ceil(TERMINI_N_SHARE * length)
        return sequence[:head] + (sequence[len(sequence) - (length - head):] if length > head else "")
    raise ValueError(f"unknown crop policy {policy!r}: one of {', '.join(CROP_POLICIES)}")


def fit_lengths(lengths: list[int], budget: int) -> list[int]:
    """Shorten the longest items first until the total fits `budget` (water-filling); short items are untouched.

    Example: `fit_lengths([128, 128, 10, 128], 300)` gives `[97, 97, 10, 96]` (sum 300).
    """
    if sum(lengths) <= budget:
        return list(lengths)
    # the largest cap c with sum(min(l, c)) <= budget
    low, high = 0, max(lengths)
    while low < high:
        cap = (low + high + 1) // 2
        if sum(min(n, cap) for n in lengths) <= budget:
            low = cap
        else:
            high = cap - 1
    fitted = [min(n, low) for n in lengths]
    spare = budget - sum(fitted)
    # hand the remainder, one token each, to fields still above the cap, in field order
    for i, n in enumerate(lengths):
        if spare and n > fitted[i]:
            fitted[i] += 1
            spare -= 1
    return fitted


def _pad(sequences: list[list[int]], pad_id: int, padding, max_length: int | None, multiple: int | None):
    """Right-pad to the longest (or `max_length`), rounded up to `multiple`; returns ids and attention masks."""
    if padding in (False, "do_not_pad"):
        return sequences, [[1] * len(s) for s in sequences]
    target = max(len(s) for s in sequences) if max_length is None else max(max_length, max(len(s) for s in sequences))
    if multiple:
        target = -(-target // multiple) * multiple
    ids = [s + [pad_id] * (target - len(s)) for s in sequences]
    mask = [[1] * len(s) + [0] * (target - len(s)) for s in sequences]
    return ids, mask


__all__ = ["CROP_POLICIES", "PROTEIN_LETTERS", "ProtSTProcessor", "clean_protein", "crop", "fit_lengths"]
