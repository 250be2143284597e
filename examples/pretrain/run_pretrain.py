"""ProtST pretraining: the entry point for `accelerate launch` (or plain `python` for one process).

One CPU process, the tiny preset, on the built-in Swiss-Prot sample (what `bash scripts/run.sh` does):

    protst build-protdescribe --builtin-sample --output outputs/protdescribe
    python examples/pretrain/run_pretrain.py --preset tiny --dataset outputs/protdescribe \\
        --output_dir outputs/pretrain

DDP on 2 processes (CPU or GPU):

    accelerate launch --config_file examples/pretrain/configs/ddp.yaml --num_processes 2 \\
        examples/pretrain/run_pretrain.py --preset tiny --dataset outputs/protdescribe --output_dir outputs/ddp

DeepSpeed ZeRO-2 / ZeRO-3 / ZeRO-2 with CPU optimizer offload (the configs point at the JSONs beside them):

    accelerate launch --config_file examples/pretrain/configs/deepspeed_zero2.yaml \\
        examples/pretrain/run_pretrain.py --preset esm2-650m --dataset ORG/ProtDescribe --output_dir outputs/z2
    accelerate launch --config_file examples/pretrain/configs/deepspeed_zero3.yaml ...
    accelerate launch --config_file examples/pretrain/configs/deepspeed_zero2_offload.yaml ...

The paper's run (ESM-2 650M + PubMedBERT, 4 GPUs x batch 3, bf16 here):

    accelerate launch --config_file examples/pretrain/configs/ddp_bf16.yaml --num_processes 4 \\
        examples/pretrain/run_pretrain.py --preset esm2-650m --dataset ORG/ProtDescribe --output_dir outputs/650m

The same run from the installed command (one process; under accelerate: `accelerate launch -m protst_hf.cli
pretrain ...`):

    protst pretrain --preset tiny --dataset outputs/protdescribe --output_dir outputs/pretrain

Resume after an interruption (same command, plus):  --resume_from_checkpoint latest
Multi-node: see examples/pretrain/README.md.
"""

import sys

from protst_hf.training.command import main

if __name__ == "__main__":
    sys.exit(main())
