"""The machine a benchmark ran on, printed beside its figures: a CPU speed-up (bf16 above all) holds on the kind of
CPU that measured it, not on every CPU."""

from __future__ import annotations

import os


def describe() -> str:
    """One line: CPU model, torch's CPU capability, whether bf16 is native, threads, torch version, and the GPU."""
    import torch

    from protst_hf.models.protst.inference_protst import native_bfloat16
    from protst_hf.training.export import cpu_model

    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    return (f"machine: {cpu_model()} ({torch.backends.cpu.get_cpu_capability()}, bf16 native: "
            f"{'yes' if native_bfloat16('cpu') else 'no'}), {torch.get_num_threads()} threads "
            f"(OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}), torch {torch.__version__}, {gpu}")


__all__ = ["describe"]
