"""What every `protst` command shares: the parent parsers of the flags several commands take (model, precision,
threads, quiet, Hub push), the decorator that turns the package's errors into a message and exit code 2, and the
model loader. Importing this module loads no torch: `protst --help` stays fast."""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable

PRECISION_CHOICES = ("auto", "float32", "bfloat16", "int8")
PRECISION_HELP = ("tower weights: auto (bf16 where the device computes it natively: GPUs, CPUs with AMX or AVX-512 "
                  "BF16; int8 on other x86 CPUs, e.g. AVX2-only ones, where bf16 is slower; float32 elsewhere), "
                  "float32, bfloat16, or int8 dynamic quantisation (CPU); see benchmarks/README.md")


def model_parent(required: bool = True, help: str = "a ProtST model folder or Hub id") -> argparse.ArgumentParser:
    """`--model`."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--model", required=required, help=help)
    return parent


def precision_parent(choices: tuple[str, ...] = PRECISION_CHOICES, default: str = "auto",
                     help: str = PRECISION_HELP) -> argparse.ArgumentParser:
    """`--precision` of the towers."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--precision", choices=choices, default=default, help=help)
    return parent


def threads_parent() -> argparse.ArgumentParser:
    """`--threads` of MMseqs2."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--threads", type=int, help="MMseqs2 threads")
    return parent


def quiet_parent() -> argparse.ArgumentParser:
    """`--quiet`."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--quiet", action="store_true", help="no progress bar")
    return parent


def evidence_parent(which: str) -> argparse.ArgumentParser:
    """`--evidence`: the GO evidence codes that count (`data.go_evidence.parse_evidence`), for `which` annotations."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--evidence", default="experimental",
                        help=f"{which}: the GO evidence codes kept: experimental (default; CAFA's EXP, IDA, IPI, IMP, "
                             "IGI, IEP, TAS, IC and HTP, HDA, HMP, HGI, HEP), non-electronic (all but IEA and ND), "
                             "all, or codes joined by commas (IDA,IMP)")
    return parent


def push_parent(what: str) -> argparse.ArgumentParser:
    """`--push-to-hub ORG/NAME` and `--private`, for commands that write a folder."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--push-to-hub", metavar="ORG/NAME", help=f"push the {what} to this Hub dataset repository")
    parent.add_argument("--private", action="store_true", help="create the Hub repository private")
    return parent


def is_package_error(err: BaseException) -> bool:
    """The errors a command reports as a message: bad values and files (`ValueError`, `OSError`, which include
    `UnicodeDecodeError` and `FileNotFoundError`) and every error class the package defines (MMseqs2 missing, a
    corrupt checkpoint, no Hub token, an untrusted pickle, ...). Anything else is a bug and keeps its traceback."""
    return isinstance(err, (ValueError, OSError)) or type(err).__module__.startswith("protst_hf.")


def reports_errors(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Decorate a command's `run`: the package's errors ([`is_package_error`]) become `error: ...` on stderr and
    exit code 2."""

    @functools.wraps(run)
    def wrapper(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except Exception as err:  # noqa: BLE001 - filtered just below, the rest re-raised
            if not is_package_error(err):
                raise
            print(f"error: {err}", file=sys.stderr)
            return 2

    return wrapper


def load_model(name: str):
    """`(model, processor, state)`: a ProtST model and processor from a folder or Hub id, on accelerate's device
    (the process's GPU under `accelerate launch`, else the CPU), in eval mode."""
    import torch
    from accelerate import PartialState
    from transformers import AutoModel, AutoProcessor

    from ..models import register

    register()
    state = PartialState(cpu=not torch.cuda.is_available())
    model = AutoModel.from_pretrained(name).to(state.device).eval()
    return model, AutoProcessor.from_pretrained(name), state


def push(folder: str, repo: str | None, private: bool) -> None:
    """Push a written folder (a dataset or an index) to a Hub dataset repository when `--push-to-hub` was given, and
    print where."""
    if repo:
        from ..hub.push import push_folder

        url = push_folder(folder, repo, repo_type="dataset", private=private)
        print(f"pushed: {url}")
