"""The transformers backend: batched, left-padded ``model.generate`` with per-row stopping.

Requests are grouped by adapter and sampling settings, sorted by prompt length (little padding),
generated in batches and returned in request order. Greedy unless ``temperature > 0``; sampling
is seeded per batch. A row stops at the end-of-turn token (``<|im_end|>``) or eos, at any of its
``stop`` strings (trimmed from the text) or at its own ``max_new_tokens``, whatever the others in
its batch do. On a GPU a static KV cache with a compiled decode step can be switched on
(``static_cache=True``), or transformers' continuous batching (``continuous=True``: paged KV
cache, finished rows replaced at once, CUDA graphs on a GPU) for requests without stop strings.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

from mentor.data.chat import ChatRenderer
from mentor.engine.base import (
    BASE_ADAPTER,
    GenerationInterrupted,
    GenRequest,
    GenResult,
    Interrupt,
    trim_at_stop,
)
from mentor.errors import ConfigError, ModelError
from mentor.models.loader import check_adapter_dir

log = logging.getLogger(__name__)


def _stop_ids(model: Any, tokenizer: Any, renderer: ChatRenderer) -> list[int]:
    ids: set[int] = set()
    for tok in (renderer.end_of_turn, tokenizer.eos_token):
        if tok is not None:
            tid = tokenizer.convert_tokens_to_ids(tok)
            if isinstance(tid, int) and tid >= 0:
                ids.add(tid)
    gen_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if isinstance(gen_eos, int):
        ids.add(gen_eos)
    elif isinstance(gen_eos, list | tuple):
        ids.update(int(i) for i in gen_eos)
    return sorted(ids)


class _RowStopping:
    """A stopping criterion with a verdict per row: own token cap, stop strings, external abort.

    ``interrupt`` (the caller's) is polled once per decode step; when it fires every row stops
    and :attr:`interrupted` tells the caller to drop the partial outputs.
    """

    def __init__(
        self,
        tokenizer: Any,
        prompt_len: int,
        max_new: list[int],
        stops: list[list[str]],
        interrupt: Interrupt | None = None,
    ):
        self.tokenizer = tokenizer
        self.prompt_len = prompt_len
        self.max_new = max_new
        self.stops = stops
        longest = max((len(s) for st in stops for s in st), default=0)
        self.window = longest + 4
        self.abort = threading.Event()
        self.interrupt = interrupt
        self.interrupted = False

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        if self.interrupt is not None and not self.interrupted and self.interrupt():
            self.interrupted = True
        cut = self.abort.is_set() or self.interrupted
        n = input_ids.shape[1] - self.prompt_len
        done = [n >= m or cut for m in self.max_new]
        for i, st in enumerate(self.stops):
            if st and not done[i]:
                lo = max(self.prompt_len, input_ids.shape[1] - self.window)
                tail = self.tokenizer.decode(input_ids[i, lo:], skip_special_tokens=True)
                done[i] = any(s in tail for s in st)
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


class _IdStreamer:
    """A transformers streamer that hands generated token ids to a queue."""

    def __init__(self) -> None:
        self.q: queue.Queue[Any] = queue.Queue()
        self._first = True

    def put(self, value: Any) -> None:
        if self._first:  # the prompt
            self._first = False
            return
        self.q.put([int(t) for t in value.reshape(-1).tolist()])

    def end(self) -> None:
        self.q.put(None)


class HFEngine:
    """Generation with a transformers model (optionally a ``PeftModel`` with several adapters)."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        renderer: ChatRenderer,
        *,
        device: str | None = None,
        seed: int = 0,
        static_cache: bool = False,
        continuous: bool = False,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.renderer = renderer
        self.device = device or str(next(model.parameters()).device)
        self.seed = seed
        self.static_cache = static_cache
        self.continuous = continuous
        self.stop_ids = _stop_ids(model, tokenizer, renderer)
        self.pad_id = (
            tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.stop_ids[0]
        )
        self.is_peft = hasattr(model, "peft_config") and hasattr(model, "set_adapter")
        self.default_adapter: str | None = _active(model) if self.is_peft else None
        self._lock = threading.RLock()

    # -- adapters -------------------------------------------------------------------------
    def adapters(self) -> list[str]:
        return list(self.model.peft_config) if self.is_peft else []

    def load_adapter(self, name: str, path: Path) -> None:
        """Load a PEFT adapter under ``name`` beside those loaded; the base stays in memory.

        A plain base model is wrapped in a ``PeftModel`` on the first adapter; requests that name
        no adapter keep meaning what they meant before (the base, or the engine's own adapter).
        """
        from peft import PeftModel

        check_adapter_dir(path)
        with self._lock:
            try:
                if self.is_peft:
                    self.model.load_adapter(str(path), adapter_name=name)
                else:
                    self.model = PeftModel.from_pretrained(
                        self.model, str(path), adapter_name=name, is_trainable=False
                    )
                    self.is_peft = True
                    self.default_adapter = BASE_ADAPTER
            except (OSError, ValueError, RuntimeError, KeyError) as err:
                raise ModelError(f"{path}: adapter does not load ({err})") from None
            self.model.eval()

    def unload_adapter(self, name: str) -> None:
        with self._lock:
            if self.is_peft and name in self.model.peft_config and name != self.default_adapter:
                self.model.delete_adapter(name)

    def _adapter(self, name: str | None) -> contextlib.AbstractContextManager[Any]:
        target = name or self.default_adapter
        if not self.is_peft:
            if target not in (None, BASE_ADAPTER):
                raise ConfigError(f"adapter {name!r}: this engine has no adapters loaded")
            return contextlib.nullcontext()
        if target == BASE_ADAPTER:
            return self.model.disable_adapter()  # type: ignore[no-any-return]
        if target not in self.model.peft_config:
            raise ConfigError(
                f"adapter {name!r} is not loaded", hint=f"loaded: {', '.join(self.adapters())}"
            )
        if _active(self.model) != target:
            self.model.set_adapter(target)
        return contextlib.nullcontext()

    # -- scoring --------------------------------------------------------------------------
    def nll(
        self, batch: dict[str, Any], *, adapter: str | None = None
    ) -> tuple[list[float], list[int]]:
        from mentor.models.nll import row_nll

        with self._lock, self._adapter(adapter):
            return row_nll(self.model, batch)

    # -- generation -----------------------------------------------------------------------
    def _gen_config(self, temperature: float, top_p: float, max_new: int) -> Any:
        from transformers import GenerationConfig

        sample = temperature > 0
        kw: dict[str, Any] = dict(
            max_new_tokens=max_new,
            do_sample=sample,
            eos_token_id=self.stop_ids,
            pad_token_id=self.pad_id,
            top_k=None,
        )
        if sample:
            kw.update(temperature=temperature, top_p=top_p)
        if self.static_cache:
            kw["cache_implementation"] = "static"
        return GenerationConfig(**kw)

    def _ids(self, prompts: list[str]) -> list[list[int]]:
        enc = self.tokenizer(prompts, add_special_tokens=False)
        return [list(x) for x in enc["input_ids"]]

    def generate(
        self,
        requests: list[GenRequest],
        *,
        batch_size: int = 32,
        progress: Callable[[int], None] | None = None,
        interrupt: Interrupt | None = None,
    ) -> list[GenResult]:
        if not requests:
            return []
        ids = self._ids([r.prompt for r in requests])

        def group(r: GenRequest) -> tuple[str, float, float, bool]:
            # same adapter and sampling; continuous batching takes the requests without stops
            return (r.adapter or "", r.temperature, r.top_p, self.continuous and not r.stop)

        order = sorted(range(len(requests)), key=lambda i: (group(requests[i]), len(ids[i])))
        results: list[GenResult | None] = [None] * len(requests)
        batch: list[int] = []

        def flush() -> None:
            if interrupt is not None and interrupt():
                raise GenerationInterrupted("generation interrupted before a batch")
            reqs = [requests[i] for i in batch]
            if group(reqs[0])[3]:
                out = self._continuous(reqs, [ids[i] for i in batch], progress, interrupt)
            else:
                out = self._batch(reqs, [ids[i] for i in batch], interrupt)
                if progress is not None:
                    progress(len(batch))
            for i, res in zip(batch, out, strict=True):
                results[i] = res
            batch.clear()

        key = None
        with self._lock:
            for i in order:
                k = group(requests[i])
                full = len(batch) >= batch_size and not k[3]  # one manager takes a whole group
                if batch and (k != key or full):
                    flush()
                key = k
                batch.append(i)
            if batch:
                flush()
        return [r for r in results if r is not None]

    def _inputs(self, ids: list[list[int]]) -> tuple[Any, Any]:
        import torch

        width = max(len(x) for x in ids)
        input_ids = torch.full((len(ids), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(ids), width), dtype=torch.long)
        for row, x in enumerate(ids):
            if x:
                input_ids[row, width - len(x) :] = torch.tensor(x, dtype=torch.long)
                mask[row, width - len(x) :] = 1
        return input_ids.to(self.device), mask.to(self.device)

    def _batch(
        self, reqs: list[GenRequest], ids: list[list[int]], interrupt: Interrupt | None = None
    ) -> list[GenResult]:
        import torch
        from transformers import StoppingCriteriaList

        input_ids, mask = self._inputs(ids)
        width = input_ids.shape[1]
        max_new = [max(1, r.max_new_tokens) for r in reqs]
        crit = _RowStopping(self.tokenizer, width, max_new, [list(r.stop) for r in reqs], interrupt)
        first = reqs[0]
        if first.temperature > 0:
            torch.manual_seed(self.seed)
        with torch.inference_mode(), self._adapter(first.adapter):
            out = self.model.generate(
                input_ids=input_ids,
                attention_mask=mask,
                generation_config=self._gen_config(first.temperature, first.top_p, max(max_new)),
                stopping_criteria=StoppingCriteriaList([crit]),
            )
        if crit.interrupted:
            raise GenerationInterrupted("generation interrupted inside a batch")
        new = out[:, width:].tolist()
        return [
            self._result(row[:m], len(x), r.stop)
            for row, m, x, r in zip(new, max_new, ids, reqs, strict=True)
        ]

    def _continuous(
        self,
        reqs: list[GenRequest],
        ids: list[list[int]],
        progress: Callable[[int], None] | None,
        interrupt: Interrupt | None = None,
    ) -> list[GenResult]:
        """All of ``reqs`` through one continuous-batching manager (same adapter and sampling)."""
        import torch
        from transformers import ContinuousBatchingConfig

        max_new = [max(1, r.max_new_tokens) for r in reqs]
        first = reqs[0]
        config = self._gen_config(first.temperature, first.top_p, max(max_new))
        config.cache_implementation = None
        cb = ContinuousBatchingConfig(seed=self.seed)
        done: dict[str, Any] = {}
        with (
            torch.inference_mode(),
            self._adapter(first.adapter),
            self.model.continuous_batching_context_manager(
                generation_config=config, continuous_batching_config=cb, block=True
            ) as manager,
        ):
            req_ids = manager.add_requests(inputs=ids, max_new_tokens=max(max_new))
            while len(done) < len(req_ids):
                if interrupt is not None and interrupt():
                    for rid in req_ids:  # the manager would otherwise finish them on exit
                        if rid not in done:
                            manager.cancel_request(rid)
                    raise GenerationInterrupted("generation interrupted (continuous batching)")
                out = manager.get_result(timeout=1)
                if out is None:
                    if not manager.is_running():
                        break
                    continue
                if out.is_finished() and out.request_id not in done:
                    done[out.request_id] = out
                    if progress is not None:
                        progress(1)
        missing = [r for r in req_ids if r not in done or done[r].error]
        if missing:
            err = next((done[r].error for r in missing if r in done), "generation thread stopped")
            raise ModelError(f"continuous batching failed on {len(missing)} request(s): {err}")
        return [
            self._result(list(done[rid].generated_tokens)[:m], len(x), r.stop)
            for rid, m, x, r in zip(req_ids, max_new, ids, reqs, strict=True)
        ]

    def _result(self, new_ids: list[int], prompt_tokens: int, stop: list[str]) -> GenResult:
        stops = set(self.stop_ids)
        ended = next((j for j, t in enumerate(new_ids) if t in stops), None)
        kept = new_ids if ended is None else new_ids[:ended]
        text = self.tokenizer.decode(kept, skip_special_tokens=True)
        text, stopped = trim_at_stop(text, stop)
        n = len(new_ids) if ended is None else ended + 1
        return GenResult(
            text, prompt_tokens, n, "stop" if ended is not None or stopped else "length"
        )

    def stream(self, request: GenRequest) -> Generator[str, None, GenResult | None]:
        import torch
        from transformers import StoppingCriteriaList

        ids = self._ids([request.prompt])
        input_ids, mask = self._inputs(ids)
        width = input_ids.shape[1]
        crit = _RowStopping(
            self.tokenizer, width, [max(1, request.max_new_tokens)], [list(request.stop)]
        )
        streamer = _IdStreamer()
        error: list[BaseException] = []

        def run() -> None:
            try:
                if request.temperature > 0:
                    torch.manual_seed(self.seed)
                with torch.inference_mode(), self._adapter(request.adapter):
                    self.model.generate(
                        input_ids=input_ids,
                        attention_mask=mask,
                        generation_config=self._gen_config(
                            request.temperature, request.top_p, max(1, request.max_new_tokens)
                        ),
                        stopping_criteria=StoppingCriteriaList([crit]),
                        streamer=streamer,
                    )
            except BaseException as err:  # surfaced in the consumer
                error.append(err)
                streamer.end()

        holdback = max((len(s) for s in request.stop), default=0)
        stops = set(self.stop_ids)
        with self._lock:
            thread = threading.Thread(target=run, daemon=True)
            thread.start()
            got: list[int] = []
            sent = 0
            finished = stopped = False
            try:
                while not finished:
                    chunk = streamer.q.get()
                    if chunk is None:
                        break
                    for t in chunk:
                        if t in stops or len(got) >= request.max_new_tokens:
                            finished = True
                            stopped = t in stops
                            break
                        got.append(t)
                    text = self.tokenizer.decode(got, skip_special_tokens=True)
                    text, at_stop = trim_at_stop(text, request.stop)
                    if at_stop:
                        finished = stopped = True
                        safe = len(text)
                    else:
                        safe = len(text) if finished else len(text) - holdback
                        while safe > sent and text[safe - 1] == "\ufffd":  # incomplete UTF-8
                            safe -= 1
                    if safe > sent:
                        yield text[sent:safe]
                        sent = safe
                text, _ = trim_at_stop(
                    self.tokenizer.decode(got, skip_special_tokens=True), request.stop
                )
                if len(text) > sent:
                    yield text[sent:]
            finally:
                crit.abort.set()
                thread.join()
        if error:
            raise error[0]
        # the counts of the tokens themselves: re-encoding the text need not give them back
        length = not stopped and len(got) >= request.max_new_tokens
        return GenResult(text, width, len(got), "length" if length else "stop")


def _active(model: Any) -> str | None:
    active = getattr(model, "active_adapter", None)
    if isinstance(active, list | tuple):
        return str(active[0]) if active else None
    return str(active) if active is not None else None


def build_hf(model_path: Any, adapter: Any, cfg: Any, **options: Any) -> HFEngine:
    from mentor.models.loader import default_device, load_model, load_tokenizer

    device = options.pop("device", None) or default_device()
    tokenizer = load_tokenizer(model_path)
    renderer = ChatRenderer.from_config(tokenizer, cfg.chat)
    model = load_model(
        model_path,
        adapter=adapter,
        dtype=options.pop("dtype", None) or cfg.model.dtype,
        device=device,
        attn_implementation=cfg.model.attn_implementation,
    )
    return HFEngine(model, tokenizer, renderer, device=device, **options)
