"""Helpers of the test suite: builders of tiny models and processors, a local Hub server, and scripts that tests run
in subprocesses (a distributed worker, remote-code and pipeline checks without protst_hf, pretraining with faults)."""
