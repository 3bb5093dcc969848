"""Commands that generate: serve (the REST API), generate (one-shot tester) and chat (interactive)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from mentor.cli.common import JsonOption, SetOption, console, out, print_json, progress_bar, state
from mentor.errors import ConfigError, DataError

ModelOption = Annotated[
    str,
    typer.Option(
        "--model",
        "-m",
        help="base, current, serving (the promoted version; base until one is), vNNN, or a directory.",
    ),
]
MaxTokens = Annotated[
    int | None,
    typer.Option(
        "--max-tokens", min=1, help="New-token limit (default: serve.default_max_tokens)."
    ),
]
Temperature = Annotated[
    float, typer.Option("--temperature", min=0.0, help="Sampling temperature; 0 = greedy.")
]
TopP = Annotated[float, typer.Option("--top-p", min=0.0, max=1.0, help="Nucleus sampling mass.")]


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("generate")(generate)
    app.command("chat")(chat)


def serve(
    ctx: typer.Context,
    host: Annotated[
        str | None,
        typer.Option(
            "--host",
            help="Bind address (default serve.host, 127.0.0.1); other than loopback needs a key.",
        ),
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", help="Port (default serve.port, 9000).")
    ] = None,
    hash_key: Annotated[
        bool,
        typer.Option(
            "--hash-key",
            help="Print a new API key and the hash to add to serve.api_keys, then exit.",
        ),
    ] = False,
    overrides: SetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Serve the REST API (/generate, OpenAI-compatible /v1/*, /metrics) until interrupted."""
    from mentor.serve.security import check_bind, new_key

    if hash_key:
        key, digest = new_key()
        if as_json:
            print_json({"key": key, "sha256": digest})
        else:
            out.print(f"key:    {key}", highlight=False)
            out.print(f"sha256: {digest}", highlight=False)
            out.print(
                "add the sha256 to mentor.yaml under serve.api_keys; give the key to clients "
                "as 'Authorization: Bearer <key>' (it is shown only now)",
                highlight=False,
            )
        return
    st = state(ctx)
    cfg = st.config(overrides)
    if host is not None:
        cfg.serve.host = host
    if port is not None:
        if not 1 <= port <= 65535:
            raise ConfigError(f"--port {port}: expected 1..65535")
        cfg.serve.port = port
    check_bind(cfg)
    from mentor.serve.server import serve as run_server

    console.print(f"serving {st.workspace().home} on http://{cfg.serve.host}:{cfg.serve.port}")
    run_server(st.workspace(), cfg, log_level="debug" if st.debug else "info")


def _read_prompts(path: Path) -> list[Any]:
    """JSONL rows: {"prompt": str}, {"messages": [...]} (ending with a user turn) or a JSON string."""
    if not path.is_file():
        raise DataError(f"{path}: not found")
    prompts: list[Any] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{where}: not valid JSON ({err.msg})") from None
        if isinstance(row, str):
            prompts.append(row)
        elif isinstance(row, dict) and isinstance(row.get("prompt"), str):
            prompts.append(row["prompt"])
        elif isinstance(row, dict) and isinstance(row.get("messages"), list):
            msgs = row["messages"]
            if not all(
                isinstance(m, dict)
                and isinstance(m.get("content"), str)
                and m.get("role") in ("system", "user", "assistant")
                for m in msgs
            ):
                raise DataError(
                    f"{where}: each message needs role (system/user/assistant) and string content"
                )
            if msgs and msgs[-1]["role"] == "assistant":
                msgs = msgs[:-1]
            if not msgs or msgs[-1]["role"] != "user":
                raise DataError(f"{where}: 'messages' must end with a user turn")
            prompts.append([{"role": m["role"], "content": m["content"]} for m in msgs])
        else:
            raise DataError(
                f'{where}: expected {{"prompt": ...}}, {{"messages": [...]}} or a string'
            )
    if not prompts:
        raise DataError(f"{path}: no prompts")
    return prompts


def _load(ctx: typer.Context, model: str, overrides: list[str] | None) -> tuple[Any, Any, Any, Any]:
    from mentor.engine.pool import ModelPool, Resolver

    st = state(ctx)
    cfg = st.config(overrides)
    resolver = Resolver(st.workspace(), cfg)
    resolved = resolver.resolve(model, allow_paths=True)
    pool = ModelPool(cfg, resolver.base)
    pool.capacity = max(pool.capacity, 1)
    return cfg, resolver, pool, resolved


def fitted_limit(engine: Any, prompt: str, limit: int, base: Path, where: str = "") -> int:
    """``limit`` clipped to the room the model's context leaves after ``prompt`` (the API's
    rule); a prompt that fills the context is one error line naming it."""
    from mentor.engine.pool import PromptTooLong, context_length, fit_context

    n = len(engine.tokenizer(prompt, add_special_tokens=False)["input_ids"])
    try:
        return fit_context(n, limit, context_length(base))
    except PromptTooLong as err:
        raise PromptTooLong(f"{where}{err.message}", hint=err.hint) from None


def generate(
    ctx: typer.Context,
    model: ModelOption = "serving",
    prompt: Annotated[str | None, typer.Option("--prompt", "-p", help="One user turn.")] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", "-f", help="JSONL of prompts ({'prompt'} or {'messages'} rows)."),
    ] = None,
    max_tokens: MaxTokens = None,
    temperature: Temperature = 0.0,
    top_p: TopP = 1.0,
    stream: Annotated[
        bool, typer.Option("--stream", help="Print text as it is generated (--prompt only).")
    ] = False,
    overrides: SetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Generate answers with a model through the engine (greedy by default)."""
    from mentor.engine import GenRequest

    if (prompt is None) == (file is None):
        raise ConfigError("give exactly one of --prompt TEXT or --file prompts.jsonl")
    if stream and (file is not None or as_json):
        raise ConfigError("--stream works with --prompt and without --json")
    prompts: list[Any] = [prompt] if prompt is not None else _read_prompts(file)  # type: ignore[arg-type]
    cfg, _, pool, resolved = _load(ctx, model, overrides)
    engine = pool.prepare(resolved)
    limit = max_tokens or cfg.serve.default_max_tokens
    reqs = []
    for i, p in enumerate(prompts, start=1):
        text = engine.renderer.prompt(p)
        where = f"{file}: prompt {i}: " if file is not None else "--prompt: "
        reqs.append(
            GenRequest(
                text,
                max_new_tokens=fitted_limit(engine, text, limit, resolved.base, where),
                temperature=temperature,
                top_p=top_p,
                adapter=resolved.key,
            )
        )
    if stream:
        for delta in engine.stream(reqs[0]):
            out.print(delta, end="", highlight=False, markup=False, soft_wrap=True)
        out.print()
        return
    t0 = time.perf_counter()
    if len(reqs) > 1 and not as_json:
        with progress_bar() as bar:
            task = bar.add_task("generating", total=len(reqs), info="")
            results = engine.generate(
                reqs, batch_size=cfg.serve.max_batch, progress=lambda n: bar.advance(task, n)
            )
    else:
        results = engine.generate(reqs, batch_size=cfg.serve.max_batch)
    seconds = time.perf_counter() - t0
    if as_json:
        print_json(
            {
                "model": resolved.name,
                "seconds": round(seconds, 3),
                "new_tokens": sum(r.new_tokens for r in results),
                "results": [
                    {
                        "prompt": p,
                        "text": r.text,
                        "tokens": r.new_tokens,
                        "prompt_tokens": r.prompt_tokens,
                        "finish_reason": r.finish_reason,
                    }
                    for p, r in zip(prompts, results, strict=True)
                ],
            }
        )
        return
    for i, r in enumerate(results):
        if len(results) > 1:
            out.print(
                f"[bold]#{i + 1}[/] ({r.new_tokens} tokens, {r.finish_reason})", highlight=False
            )
        out.print(r.text, highlight=False, markup=False, soft_wrap=True)


CHAT_HELP = "commands: /reset (forget the conversation), /model NAME (switch model), /quit"


def chat(
    ctx: typer.Context,
    model: ModelOption = "serving",
    system: Annotated[
        str | None, typer.Option("--system", help="System prompt of the conversation.")
    ] = None,
    max_tokens: MaxTokens = None,
    temperature: Temperature = 0.0,
    top_p: TopP = 1.0,
    overrides: SetOption = None,
) -> None:
    """Chat with a model in the terminal; the conversation is templated like training data."""
    from mentor.engine import GenRequest
    from mentor.errors import MentorError

    cfg, resolver, pool, resolved = _load(ctx, model, overrides)
    engine = pool.prepare(resolved)
    limit = max_tokens or cfg.serve.default_max_tokens
    history: list[dict[str, str]] = [{"role": "system", "content": system}] if system else []
    console.print(f"model {resolved.name}; {CHAT_HELP}", highlight=False)
    while True:
        try:
            line = input("you> ")
        except EOFError:
            break
        text = line.strip()
        if not text:
            continue
        if text in ("/quit", "/exit", "/q"):
            break
        if text == "/reset":
            history = history[:1] if system else []
            console.print("conversation reset")
            continue
        if text.startswith("/model"):
            name = text.removeprefix("/model").strip()
            if not name:
                console.print(f"model {resolved.name}")
                continue
            try:
                new = resolver.resolve(name, allow_paths=True)
                engine = pool.prepare(new)
            except MentorError as err:
                console.print(f"[red]error:[/] {err}", highlight=False)
                continue
            resolved = new
            console.print(f"model {resolved.name}", highlight=False)
            continue
        if text.startswith("/"):
            console.print(CHAT_HELP)
            continue
        history.append({"role": "user", "content": line})
        req = GenRequest(
            engine.renderer.prompt(history),
            max_new_tokens=limit,
            temperature=temperature,
            top_p=top_p,
            adapter=resolved.key,
        )
        parts = []
        out.print("bot> ", end="", highlight=False)
        for delta in engine.stream(req):
            parts.append(delta)
            out.print(delta, end="", highlight=False, markup=False, soft_wrap=True)
        out.print()
        history.append({"role": "assistant", "content": "".join(parts)})
