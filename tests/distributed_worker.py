"""Worker for tests/test_losses_protst.py, run as `torchrun --nproc_per_node 2 distributed_worker.py OUT.pt`.

Each process takes an unequal share of one batch (rank 0: rows 0-2, rank 1: rows 3-4) and computes the gathered
contrastive loss (1) with the pure function on two linear encoders, (2) with a tiny ProtSTForPreTraining wrapped
in real DDP. Rank 0 saves the process-mean loss and the process-averaged gradients for the test to compare with a
single process on the whole batch.
"""

import sys

import torch
import torch.distributed as dist
import torch.nn.functional as F

sys.path.insert(0, __file__.rsplit("/", 1)[0])

from conftest import load_rows, tiny_protein_config, tiny_text_config  # noqa: E402
from protst_hf import ProtSTConfig, ProtSTForPreTraining  # noqa: E402
from protst_hf.models.protst.losses_protst import contrastive_loss  # noqa: E402
from test_losses_protst import SPLIT, linear_encoders, make_processor  # noqa: E402


def main(out_path: str) -> None:
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    rows = slice(*SPLIT[rank])

    # (1) the pure function on linear encoders
    protein_encoder, text_encoder, logit_scale, x_protein, x_text = linear_encoders()
    result = contrastive_loss(
        F.normalize(protein_encoder(x_protein[rows]), dim=-1),
        F.normalize(text_encoder(x_text[rows]), dim=-1),
        logit_scale,
    )
    result.loss.backward()
    params = {"protein": protein_encoder.weight, "text": text_encoder.weight, "logit_scale": logit_scale}
    function_grads = {}
    for name, param in params.items():
        grad = param.grad.clone()
        dist.all_reduce(grad)  # what DDP does: average over processes
        function_grads[name] = grad / world
    function_loss = result.loss.detach().clone()
    dist.all_reduce(function_loss)

    # (2) the model under DDP
    processor = make_processor()
    text_config = tiny_text_config(processor.tokenizer.vocab_size)
    torch.manual_seed(0)
    config = ProtSTConfig(
        protein_config=tiny_protein_config(), text_config=text_config, projection_dim=16,
        fusion_num_attention_heads=2, mlm_weight=0, mmp_protein_weight=0, mmp_text_weight=0,
        text_cls_token_id=processor.tokenizer.cls_token_id, text_sep_token_id=processor.tokenizer.sep_token_id,
    )
    model = ProtSTForPreTraining(config)
    ddp = torch.nn.parallel.DistributedDataParallel(model, find_unused_parameters=True)
    data = load_rows()[slice(0, SPLIT[-1][1])][rows]
    batch = processor(proteins=[r["sequence"] for r in data], text=[r["function"] for r in data], return_tensors="pt")
    output = ddp(**batch)
    output.loss.backward()
    model_loss = output.loss.detach().clone()
    dist.all_reduce(model_loss)
    model_grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    if rank == 0:
        torch.save(
            {
                "function_loss": function_loss / world,
                "function_grads": function_grads,
                "model_loss": model_loss / world,
                "model_grads": model_grads,
                "world_size": world,
            },
            out_path,
        )
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
