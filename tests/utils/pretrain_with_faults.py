"""Pretraining (as examples/pretrain/run_pretrain.py runs it) with a fault injected from outside the library:

    python pretrain_with_faults.py --kill-at-step 5 -- <run_pretrain.py arguments>
    python pretrain_with_faults.py --nan-at-step 3 -- ...        (the training loss of step 3 becomes NaN)
    python pretrain_with_faults.py --kill-during-save 6 -- ...   (SIGKILL after accelerate wrote checkpoint 6's
                                                                  state, before it was completed and renamed)
"""

import argparse
import os
import signal
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kill-at-step", type=int)
    parser.add_argument("--nan-at-step", type=int)
    parser.add_argument("--kill-during-save", type=int)
    args, rest = parser.parse_known_args()
    rest = rest[1:] if rest[:1] == ["--"] else rest

    from protst_hf.models.protst.modeling_protst import ProtSTForPreTraining
    from protst_hf.training import parse_args, run_pretraining

    callbacks = []
    if args.kill_at_step:
        class Kill:
            def on_step_end(self, trainer):
                if trainer.state["global_step"] == args.kill_at_step:
                    os.kill(os.getpid(), signal.SIGKILL)

        callbacks.append(Kill())
    if args.nan_at_step:
        forward, calls = ProtSTForPreTraining.forward, {"training": 0}

        def poisoned(self, *a, **k):
            output = forward(self, *a, **k)
            if self.training:
                calls["training"] += 1
                if calls["training"] == args.nan_at_step:  # one poisoned batch
                    output.loss = output.loss * float("nan")
            return output

        ProtSTForPreTraining.forward = poisoned
    if args.kill_during_save:
        from accelerate import Accelerator

        save_state = Accelerator.save_state

        def save_then_die(self, output_dir=None, *a, **k):
            result = save_state(self, output_dir, *a, **k)
            if output_dir and Path(output_dir).name == f".tmp-step-{args.kill_during_save:08d}":
                os.kill(os.getpid(), signal.SIGKILL)
            return result

        Accelerator.save_state = save_then_die

    model_args, data_args, train_args = parse_args(rest)
    run_pretraining(model_args, data_args, train_args, callbacks=callbacks)
    return 0


if __name__ == "__main__":
    sys.exit(main())
