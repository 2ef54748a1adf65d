"""Batch labelling: resumable, budgeted, reported; on worker threads or sharded over Ray."""

from autointerp.batch.executors import Executor, Outcome, RayExecutor, ThreadExecutor
from autointerp.batch.run import BatchBusy, BatchOptions, BatchSummary, check, plan, run_batch

__all__ = ["BatchBusy", "BatchOptions", "BatchSummary", "Executor", "Outcome", "RayExecutor", "ThreadExecutor", "check", "plan",
           "run_batch"]
