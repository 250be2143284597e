"""`protst push`: a model, LoRA adapter, dataset, index or annotation reference folder to the Hub, with its card."""

from __future__ import annotations

import argparse

from ._common import reports_errors

NAME = "push"


def register(commands) -> None:
    push = commands.add_parser(NAME, help="push a model, LoRA adapter, dataset, index or annotation reference "
                               "folder with its card")
    push.add_argument("folder")
    push.add_argument("--repo", required=True, metavar="ORG/NAME")
    push.add_argument("--kind", choices=("model", "adapter", "dataset", "index", "reference"),
                      help="default: detected from the folder's files")
    push.add_argument("--private", action="store_true")
    push.add_argument("--revision", help="branch to push to (created when missing)")
    push.add_argument("--eval-results", help="results.json of `protst evaluate`, for the model card's model-index")
    push.add_argument("--license", default="apache-2.0")
    push.set_defaults(handler=run)


@reports_errors
def run(args: argparse.Namespace) -> int:
    from ..hub.push import publish

    url = publish(args.folder, args.repo, kind=args.kind, private=args.private, revision=args.revision,
                  eval_results=args.eval_results, license=args.license)
    print(f"pushed: {url}")
    return 0
