"""The vLLM backend (optional extra ``mentor[vllm]``, GPU only; imported lazily).

Same interface as the transformers backend. Adapters are served as LoRA requests; the adapter
name of a request must have been registered with :meth:`VLLMEngine.load_adapter` (the engine's
own adapter is registered as ``default``).
"""

from __future__ import annotations

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
from mentor.errors import ConfigError


class VLLMEngine:
    def __init__(self, model_path: Path, adapter: Path | None, cfg: Any, *, seed: int = 0) -> None:
        try:
            import vllm
        except ImportError:
            raise ConfigError(
                "backend 'vllm': vllm is not installed",
                hint="pip install 'mentor[vllm]', or use backend hf",
            ) from None
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(
                "backend 'vllm' needs a CUDA GPU; none is available", hint="use backend hf"
            )
        from mentor.models.loader import load_tokenizer

        self.tokenizer = load_tokenizer(model_path)
        self.renderer = ChatRenderer.from_config(self.tokenizer, cfg.chat)
        self.device = "cuda"
        self.seed = seed
        dtype = {"auto": "auto", "float32": "float32", "bfloat16": "bfloat16", "float16": "float16"}
        self.llm = vllm.LLM(
            model=str(model_path),
            dtype=dtype[cfg.model.dtype],
            enable_lora=adapter is not None,
            max_lora_rank=max(cfg.training.lora_r, 8),
            seed=seed,
        )
        self._adapters: dict[str, tuple[int, str]] = {}
        self._next_id = 0
        if adapter is not None:
            self.load_adapter("default", adapter)
        self.default_adapter = "default" if adapter is not None else None

    def load_adapter(self, name: str, path: Path) -> None:
        self._next_id += 1  # vLLM caches LoRA weights by id: never reuse one
        self._adapters[name] = (self._next_id, str(path))

    def unload_adapter(self, name: str) -> None:
        self._adapters.pop(name, None)

    def _lora(self, name: str | None) -> Any:
        if name == BASE_ADAPTER:
            return None
        name = name or self.default_adapter
        if name is None:
            return None
        if name not in self._adapters:
            raise ConfigError(f"adapter {name!r} is not registered with the vllm engine")
        from vllm.lora.request import LoRARequest

        lid, path = self._adapters[name]
        return LoRARequest(name, lid, path)

    def _params(self, r: GenRequest) -> Any:
        from vllm import SamplingParams

        return SamplingParams(
            max_tokens=r.max_new_tokens,
            temperature=r.temperature,
            top_p=r.top_p if r.temperature > 0 else 1.0,
            stop=list(r.stop) or None,
            seed=self.seed if r.temperature > 0 else None,
        )

    def generate(
        self,
        requests: list[GenRequest],
        *,
        batch_size: int = 32,
        progress: Callable[[int], None] | None = None,
        interrupt: Interrupt | None = None,
    ) -> list[GenResult]:
        results: list[GenResult] = []
        for start in range(0, len(requests), max(batch_size, 1) * 8):
            if interrupt is not None and interrupt():  # vLLM runs a chunk to its end
                raise GenerationInterrupted("generation interrupted before a chunk")
            chunk = requests[start : start + max(batch_size, 1) * 8]
            outs = self.llm.generate(
                [r.prompt for r in chunk],
                [self._params(r) for r in chunk],
                lora_request=[self._lora(r.adapter) for r in chunk],
                use_tqdm=False,
            )
            for r, o in zip(chunk, outs, strict=True):
                c = o.outputs[0]
                text, _ = trim_at_stop(c.text, r.stop)
                reason = "length" if c.finish_reason == "length" else "stop"
                results.append(GenResult(text, len(o.prompt_token_ids), len(c.token_ids), reason))
            if progress is not None:
                progress(len(chunk))
        return results

    def nll(
        self, batch: dict[str, Any], *, adapter: str | None = None
    ) -> tuple[list[float], list[int]]:
        raise ConfigError(
            "backend 'vllm' scores no token likelihoods (the perplexity evaluator)",
            hint="evaluate such data with backend hf",
        )

    def stream(self, request: GenRequest) -> Generator[str, None, GenResult | None]:
        # vLLM's offline engine has no incremental API; yield the whole text as one delta.
        result = self.generate([request])[0]
        yield result.text
        return result


def build_vllm(model_path: Path, adapter: Path | None, cfg: Any, **options: Any) -> VLLMEngine:
    return VLLMEngine(model_path, adapter, cfg, **options)
