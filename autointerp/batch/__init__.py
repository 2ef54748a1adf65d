"""Batch labelling: resumable, budgeted, reported; optionally sharded over Ray."""

from autointerp.batch.run import BatchOptions, BatchSummary, plan, run_batch

__all__ = ["BatchOptions", "BatchSummary", "plan", "run_batch"]
