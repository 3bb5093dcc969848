"""A live uvicorn server on 127.0.0.1 (random free port, in a thread): the openai client, auth,
the concurrency cap and a bounded load run."""

from __future__ import annotations

import statistics
import threading
import time

import httpx
import openai
import pytest

from mentor import config as config_mod
from mentor.serve.app import create_app
from mentor.serve.security import hash_key

pytestmark = pytest.mark.timeout(300)


def load_cfg(ws, **serve):
    cfg = config_mod.load(ws.config_file)
    for k, v in serve.items():
        setattr(cfg.serve, k, v)
    return cfg


def test_openai_client_chat_completions_streaming(workspace, live_server):
    with live_server(create_app(workspace, load_cfg(workspace))) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0, timeout=60)
        msgs = [{"role": "user", "content": "hello there"}]
        chat = client.chat.completions.create(model="base", messages=msgs, max_tokens=8)
        answer = chat.choices[0].message.content
        assert chat.model == "base" and chat.usage.completion_tokens >= 1
        assert chat.choices[0].finish_reason in ("stop", "length")

        stream = client.chat.completions.create(
            model="base", messages=msgs, max_tokens=8, stream=True
        )
        parts = [c.choices[0].delta.content or "" for c in stream if c.choices]
        assert "".join(parts) == answer

        comp = client.completions.create(model="base", prompt="the model", max_tokens=5)
        assert comp.choices[0].text is not None and comp.usage.completion_tokens >= 1
        streamed = "".join(
            c.choices[0].text
            for c in client.completions.create(
                model="base", prompt="the model", max_tokens=5, stream=True
            )
        )
        assert streamed == comp.choices[0].text

        ids = [m.id for m in client.models.list()]
        assert "base" in ids and "serving" in ids

        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(model="base", messages=msgs, max_tokens=100_000)
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(model="/etc/passwd", messages=msgs, max_tokens=4)


def test_openai_client_needs_the_key(workspace, live_server):
    key = "k-live-" + "x" * 20
    cfg = load_cfg(workspace, api_keys=[hash_key(key)])
    with live_server(create_app(workspace, cfg)) as url:
        msgs = [{"role": "user", "content": "hi"}]
        for wrong in ("nope", key + "x"):
            bad = openai.OpenAI(base_url=f"{url}/v1", api_key=wrong, max_retries=0, timeout=30)
            with pytest.raises(openai.AuthenticationError):
                bad.chat.completions.create(model="base", messages=msgs, max_tokens=2)
        assert httpx.get(f"{url}/v1/models").status_code == 401
        good = openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=30)
        assert good.chat.completions.create(model="base", messages=msgs, max_tokens=2).choices


def test_concurrency_cap_answers_429_with_retry_after(workspace, live_server, hold):
    app = create_app(workspace, load_cfg(workspace, max_concurrency=1))
    st = app.state.mentor
    body = {"prompt": "hi", "max_tokens": 2}
    first: dict = {}
    with live_server(app) as url, hold(st.pool.engines[st.pool.base], "generate") as held:
        t = threading.Thread(
            target=lambda: first.update(
                status=httpx.post(f"{url}/generate", json=body, timeout=60).status_code
            )
        )
        t.start()
        held.wait_entered()
        r = httpx.post(f"{url}/generate", json=body, timeout=30)
        assert r.status_code == 429 and r.headers["retry-after"] == "1"
        assert r.json()["error"]["type"] == "rate_limit_error"
        assert httpx.get(f"{url}/health", timeout=10).status_code == 200  # not capped
        held.release()
        t.join(60)
        assert first["status"] == 200
        assert httpx.post(f"{url}/generate", json=body, timeout=60).status_code == 200


def test_a_stream_holds_its_slot_until_its_last_event(workspace, live_server, hold):
    """The concurrency cap counts a stream until it ends, not until its handler returns."""
    app = create_app(workspace, load_cfg(workspace, max_concurrency=1))
    st = app.state.mentor
    body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
    done: dict = {}

    def streamer(url: str) -> None:
        with httpx.stream(
            "POST", f"{url}/v1/chat/completions", json={**body, "stream": True}, timeout=60
        ) as r:
            done["status"] = r.status_code
            done["text"] = r.read().decode()

    with live_server(app) as url:
        with hold(st.pool.engines[st.pool.base], "stream") as held:
            t = threading.Thread(target=streamer, args=(url,))
            t.start()
            held.wait_entered()
            r = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=30)
            assert r.status_code == 429, r.text
            held.release()
            t.join(60)
        assert done["status"] == 200 and done["text"].endswith("data: [DONE]\n\n")
        deadline = time.monotonic() + 10  # the slot goes back just after the last byte is sent
        while st.in_flight:
            assert time.monotonic() < deadline, "the stream never gave its slot back"
            time.sleep(0.02)
        assert httpx.post(f"{url}/v1/chat/completions", json=body, timeout=60).status_code == 200


@pytest.fixture()
def one_thread():
    """One OMP thread (restored after): on shared cores spin-waiting threads slow the tiny model."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_bounded_load_run(workspace, one_thread, live_server):
    """N=8 clients for M=3 seconds: zero errors; p50/p99 latency reported."""
    n_clients, seconds = 8, 3.0
    with live_server(create_app(workspace, load_cfg(workspace))) as url:
        httpx.post(f"{url}/generate", json={"prompt": "warm", "max_tokens": 2}, timeout=60)
        latencies: list[float] = []
        errors: list[str] = []
        lock = threading.Lock()
        stop_at = time.monotonic() + seconds

        def client(i: int) -> None:
            with httpx.Client(timeout=60) as http:
                k = 0
                while time.monotonic() < stop_at:
                    t0 = time.perf_counter()
                    try:
                        r = http.post(
                            f"{url}/generate",
                            json={"prompt": f"client {i} asks {k}", "max_tokens": 8},
                        )
                        ok = r.status_code == 200
                        err = None if ok else f"{r.status_code} {r.text[:200]}"
                    except httpx.HTTPError as e:
                        err = repr(e)
                    with lock:
                        if err:
                            errors.append(err)
                        else:
                            latencies.append(time.perf_counter() - t0)
                    k += 1

        threads = [threading.Thread(target=client, args=(i,)) for i in range(n_clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, errors[:3]
        assert len(latencies) >= n_clients
        q = statistics.quantiles(latencies, n=100)
        p50, p99 = statistics.median(latencies), q[98]
        print(
            f"\nload: {n_clients} clients x {seconds:.0f}s: {len(latencies)} requests, "
            f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, 0 errors"
        )
        metrics = httpx.get(f"{url}/metrics", timeout=10).text
        assert "mentor_serve_batch_size_count" in metrics
