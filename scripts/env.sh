# Sourced by the scripts: the run-time environment vrec is measured and tested with.
# - One OpenBLAS thread: its own pool fights Torch's and FAISS's OpenMP threads (2.25x slower).
# - Passive OpenMP waiting: spinning workers starve each other when the cores are shared
#   (an epoch went from 2.4 s to 86 s under load with the default policy).
# - A high mmap threshold: page faults are expensive here; default malloc doubled epoch times.
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
export GLIBC_TUNABLES=${GLIBC_TUNABLES:-glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967296}
