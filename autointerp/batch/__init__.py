"""Batch labelling: resumable, budgeted, reported; on worker threads or sharded over Ray."""

from autointerp.batch.executors import Executor, Outcome, RayExecutor, ThreadExecutor
from autointerp.batch.options import BatchOptions
from autointerp.batch.run import BatchBusy, BatchSummary, check, check_free, plan, run_batch

__all__ = ["BatchBusy", "BatchOptions", "BatchSummary", "Executor", "Outcome", "RayExecutor", "ThreadExecutor", "check",
           "check_free", "plan", "run_batch"]
