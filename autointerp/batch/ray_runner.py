"""Scale-out on Ray: one actor per worker loads the target (and LLM) once and explains the neurons
the driver hands it; every actor writes to the same store (a Chroma server across nodes). The
driver plans, skips what is stored, and stops handing out work at the budget."""

from __future__ import annotations

import time

from autointerp.batch.run import BatchOptions, BatchSummary, over, plan
from autointerp.config import Settings, get_settings
from autointerp.errors import InputError


class _Worker:
    def __init__(self, settings: dict, opts: dict) -> None:
        from autointerp.agent.explain import PROMPT_VERSIONS
        from autointerp.batch.failures import Failures
        from autointerp.llm import make_llm
        from autointerp.store import open_store
        from autointerp.targets import load_target

        self.settings = Settings(**settings)
        self.opts = BatchOptions(**opts)
        self.target = load_target(self.opts.model, self.settings)
        self.llm = None if self.opts.method == "heuristic" else make_llm(self.opts.llm, self.settings)
        self.store = open_store(self.settings)
        self.failures = Failures(self.settings, self.target.name, self.llm.name if self.llm else "none",
                                 PROMPT_VERSIONS[self.opts.method])

    def explain(self, neuron: str) -> tuple[str, bool, int, int, float | None]:
        from autointerp.agent import AgentConfig, explain
        from autointerp.llm import LLM

        own = LLM(self.llm.name, self.llm.chat, self.llm.price, endpoint=self.llm.endpoint) if self.llm else None
        try:
            rec = explain(neuron, self.target.name, own, self.opts.method, AgentConfig(max_steps=self.opts.max_steps),
                          self.opts.simulator, self.settings, store=self.store)
            self.store.add(rec)
            self.failures.clear(neuron)
            return neuron, True, rec.prompt_tokens, rec.completion_tokens, rec.cost_usd
        except Exception as e:  # noqa: BLE001 - recorded, retried with --retry-failed
            self.failures.record(neuron, f"{type(e).__name__}: {e}")
            u = own.usage if own else None
            return neuron, False, u.prompt_tokens if u else 0, u.completion_tokens if u else 0, u.cost_usd if u else 0.0


def run_batch_ray(opts: BatchOptions, address: str | None = None, settings: Settings | None = None,
                  on_progress=None) -> BatchSummary:
    """`address`: a running cluster (`ray start --head` prints it), or None for a local Ray."""
    try:
        import ray
        from ray.util import ActorPool
    except ImportError:
        raise InputError("--ray needs Ray: pip install 'autointerp[ray]'") from None
    from autointerp.agent.explain import PROMPT_VERSIONS
    from autointerp.batch.failures import Failures
    from autointerp.llm.backends import llm_name
    from autointerp.store import open_store
    from autointerp.targets import load_target

    settings = settings or get_settings()
    store = open_store(settings)
    target = load_target(opts.model, settings)
    explainer = "none" if opts.method == "heuristic" else llm_name(opts.llm or settings.llm)
    version = PROMPT_VERSIONS[opts.method]
    neurons = plan(opts, settings)
    done = {str(n) for n in neurons if not opts.redo and store.has(target.name, str(n), explainer, version)}
    failed = Failures(settings, target.name, explainer, version).all()
    skipped = {str(n) for n in neurons if str(n) in failed and not opts.retry_failed and str(n) not in done}
    todo = [str(n) for n in neurons if str(n) not in done | skipped]
    t0 = time.perf_counter()
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, num_cpus=None if address else opts.workers, include_dashboard=False,
                 log_to_driver=False, runtime_env={"env_vars": {"TOKENIZERS_PARALLELISM": "false"}})
    try:
        actor = ray.remote(num_cpus=1)(_Worker)
        pool = ActorPool([actor.remote(settings.model_dump(mode="json"), opts.model_dump())
                          for _ in range(opts.workers)])
        prompt = completion = n_done = n_failed = 0
        cost: float | None = 0.0
        stopped = "complete"
        queue = list(todo)
        in_flight = 0
        while queue or in_flight:
            while queue and in_flight < opts.workers:
                if over(opts, prompt + completion, cost):
                    stopped, queue = "budget", []
                    break
                pool.submit(lambda a, n: a.explain.remote(n), queue.pop(0))
                in_flight += 1
            if not in_flight:
                break
            neuron, ok, p, c, usd = pool.get_next_unordered()
            in_flight -= 1
            prompt, completion = prompt + p, completion + c
            cost = None if usd is None or cost is None else cost + usd
            n_done, n_failed = n_done + ok, n_failed + (not ok)
            if on_progress:
                on_progress({"neuron": neuron, "done": n_done, "failed": n_failed, "total": len(todo),
                             "tokens": prompt + completion, "cost_usd": cost})
    finally:
        if started_here:
            ray.shutdown()
    return BatchSummary(model=target.name, explainer=explainer, prompt_version=version, planned=len(neurons),
                        already_done=len(done), skipped_failed=len(skipped), done=n_done, failed=n_failed,
                        stopped=stopped, prompt_tokens=prompt, completion_tokens=completion, cost_usd=cost,
                        seconds=round(time.perf_counter() - t0, 2))
