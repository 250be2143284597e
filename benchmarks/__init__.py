"""protst-hf's benchmarks: each script measures the package against a baseline in the same run and prints the ratio.
Run them from the repository root as modules: `python -m benchmarks.NAME` (decided studies:
`python -m benchmarks.studies.NAME`). See benchmarks/README.md."""
