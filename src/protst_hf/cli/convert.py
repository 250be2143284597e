"""`protst convert-original` and `protst convert-hub-port`: released ProtST weights into a protst-hf model folder."""

from __future__ import annotations

import argparse
import sys

from ._common import reports_errors

CONVERTERS = (
    ("convert-original", "checkpoint", "an original ProtST checkpoint (protst_esm1b.pth, protst_esm2.pth)"),
    ("convert-hub-port", "folder", "a folder in the mila-intel/ProtST-esm1b layout"),
)


def register(commands) -> None:
    for name, source, what in CONVERTERS:
        convert = commands.add_parser(name, help=f"convert {what} into a protst-hf model folder")
        convert.add_argument("source", metavar=source.upper())
        convert.add_argument("output", metavar="OUTPUT_DIR")
        convert.add_argument("--trust-pickle", action="store_true",
                             help="allow full unpickling (runs code from the file: only for files you trust)")
        convert.add_argument("--text-tokenizer", default="microsoft/BiomedNLP-PubMedBERT-base-uncased-abstract",
                             help="tokenizer of the checkpoint's text model (folder or Hub id)")
        convert.add_argument("--protein-tokenizer", help="ESM tokenizer (default: the one shipped with protst-hf)")
        convert.add_argument("--no-processor", action="store_true", help="save the model only")
        convert.add_argument("--protein-attention-heads", type=int,
                             help="attention heads of the ESM model, for sizes other than the released ESM-1b/ESM-2")
        convert.set_defaults(handler=run)


@reports_errors
def run(args: argparse.Namespace) -> int:
    from ..hub.convert import convert_hub_port, convert_original, save_converted_processor

    if args.command == "convert-original":
        model, report = convert_original(args.source, args.output, trust_pickle=args.trust_pickle,
                                         protein_attention_heads=args.protein_attention_heads)
    else:
        model, report = convert_hub_port(args.source, args.output, trust_pickle=args.trust_pickle)
    print(f"converted {args.source} -> {args.output}: {report.mapped} tensors mapped, {len(report.dropped)} dropped "
          f"on purpose, {len(report.unmapped)} unmapped, {len(report.missing)} missing (conversion_report.json)")
    for name, keys in (("unmapped", report.unmapped), ("missing", report.missing)):
        if keys:
            print(f"  {name}: " + ", ".join(keys[:10]) + (f" and {len(keys) - 10} more" if len(keys) > 10 else ""))
    if args.no_processor:
        return 0
    try:
        save_converted_processor(model, args.output, args.text_tokenizer, args.protein_tokenizer)
    except (OSError, ValueError) as err:
        print(f"warning: model saved without a processor ({err}); pass --text-tokenizer with the tokenizer of the "
              "checkpoint's text model (a folder, or a Hub id when online)", file=sys.stderr)
        return 1
    print(f"  processor saved (text tokenizer {args.text_tokenizer})")
    return 0
