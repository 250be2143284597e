"""Worker for tests/models/protst/test_losses_protst.py, run as
`torchrun --nproc_per_node 2 distributed_worker.py OUT.pt`.

Each process takes an unequal share of one batch (rank 0: rows 0-2, rank 1: rows 3-4) and computes the gathered
contrastive loss (1) with the pure function on two linear encoders, with and without shared positives, and against a
text bank (`text_bank_loss`), (2) with a
tiny ProtSTForPreTraining wrapped in real DDP. Everything runs in float64, so that the comparison with a single
process tests the gathering, not float32 summation order. Rank 0 saves the process-mean losses and the
process-averaged gradients for the test to compare with a single process on the whole batch.
"""

import datetime
import math
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from utils.builders import load_rows, make_processor, tiny_config  # noqa: E402

# rows of the batch held by each of the two processes: deliberately unequal
SPLIT = [(0, 3), (3, 5)]
# text group of each of the 5 rows: rows 0, 2 and 4 share one text (split across both processes), 1 and 3 differ
GROUPS = torch.tensor([7, 1, 7, 2, 7])


def linear_encoders():
    """Two linear encoders, a log temperature and a 5-row batch, identical in every process (float64)."""
    torch.manual_seed(0)
    protein_encoder = torch.nn.Linear(8, 4, bias=False).double()
    text_encoder = torch.nn.Linear(8, 4, bias=False).double()
    logit_scale = torch.nn.Parameter(torch.tensor(math.log(1 / 0.07), dtype=torch.float64))
    return protein_encoder, text_encoder, logit_scale, torch.randn(5, 8).double(), torch.randn(5, 8).double()


def tiny_model(processor, **overrides):
    from protst_hf import ProtSTForPreTraining
    from protst_hf.training.freezing import apply_freezing

    torch.manual_seed(0)
    config = tiny_config(processor, mlm_weight=0, mmp_protein_weight=0, mmp_text_weight=0, **overrides)
    return apply_freezing(ProtSTForPreTraining(config).double())  # as the training code builds it


def function_run(rows: slice, groups: bool):
    """The pure loss on this process's rows; (loss, {name: gradient})."""
    from protst_hf.models.protst.losses_protst import contrastive_loss

    protein_encoder, text_encoder, logit_scale, x_protein, x_text = linear_encoders()
    result = contrastive_loss(F.normalize(protein_encoder(x_protein[rows]), dim=-1),
                              F.normalize(text_encoder(x_text[rows]), dim=-1), logit_scale,
                              text_groups=GROUPS[rows] if groups else None)
    result.loss.backward()
    grads = {"protein": protein_encoder.weight.grad, "text": text_encoder.weight.grad, "logit_scale": logit_scale.grad}
    return result.loss.detach(), grads


def bank_run(rows: slice):
    """The text-bank loss on this process's rows: a 6-text bank (the same in every process) with soft targets (rows
    0 and 3 spread over two bank texts), in-batch text -> protein gathered; (loss, {name: gradient})."""
    from protst_hf.models.protst.losses_protst import text_bank_loss

    protein_encoder, text_encoder, logit_scale, x_protein, x_text = linear_encoders()
    torch.manual_seed(1)
    x_bank = torch.randn(6, 8).double()
    targets = torch.zeros(5, 6, dtype=torch.float64)
    targets[[0, 1, 2, 3, 4], [0, 1, 2, 3, 4]] = 1.0
    targets[0, 5] = targets[3, 5] = 1.0
    result = text_bank_loss(F.normalize(protein_encoder(x_protein[rows]), dim=-1),
                            F.normalize(text_encoder(x_text[rows]), dim=-1), F.normalize(text_encoder(x_bank), dim=-1),
                            targets[rows], logit_scale, text_groups=GROUPS[rows])
    result.loss.backward()
    grads = {"protein": protein_encoder.weight.grad, "text": text_encoder.weight.grad, "logit_scale": logit_scale.grad}
    return result.loss.detach(), grads


def main(out_path: str) -> None:
    # Everything slow and local first (imports of the training code, the processor, the model, the batch), so that
    # the two processes meet in the collectives at nearly the same time; a collective that still waits fails after
    # 100 s with gloo's error instead of hanging (the test's limit is 150 s).
    rank = int(os.environ["RANK"])
    rows = slice(*SPLIT[rank])
    processor = make_processor()
    model = tiny_model(processor)
    data = load_rows()[slice(0, SPLIT[-1][1])][rows]
    batch = processor(proteins=[r["sequence"] for r in data], text=[r["function"] for r in data], return_tensors="pt")
    dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=100))
    world = dist.get_world_size()
    print(f"rank {rank}/{world}: process group up", flush=True)  # read by the test when the run times out
    result = {"world_size": world}

    # (1) the pure function on linear encoders, with the original positives and with shared ones
    for groups in (False, True):
        loss, grads = function_run(rows, groups)
        for grad in grads.values():
            dist.all_reduce(grad)  # what DDP does: average over processes
            grad /= world
        dist.all_reduce(loss)
        result[f"function_{groups}"] = (loss / world, grads)

    loss, grads = bank_run(rows)
    for grad in grads.values():
        dist.all_reduce(grad)
        grad /= world
    dist.all_reduce(loss)
    result["bank"] = (loss / world, grads)

    # (2) the model under DDP
    print(f"rank {rank}: losses gathered; DDP model next", flush=True)
    ddp = torch.nn.parallel.DistributedDataParallel(model, find_unused_parameters=True)
    print(f"rank {rank}: DDP model wrapped", flush=True)
    output = ddp(**batch)
    output.loss.backward()
    model_loss = output.loss.detach().clone()
    dist.all_reduce(model_loss)
    model_grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    result["model"] = (model_loss / world, model_grads)

    if rank == 0:
        torch.save(result, out_path)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
