"""System figures for ``metrics.jsonl`` records and the dashboard's cards.

:func:`sample` returns one flat-ish dict: process RSS, torch allocated/reserved/peak memory (CUDA
when present), per-GPU utilisation, memory, temperature and power through NVML, and the free
disk of the workspace. Every source is optional: no GPU, no driver or no torch gives empty or
``None`` figures, never an exception.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import threading
from typing import Any

from mentor.paths import Workspace

log = logging.getLogger(__name__)

GIB = 1024**3

_nvml_lock = threading.Lock()
_nvml_state: dict[str, Any] = {"tried": False, "ok": False}


def _round(x: float | None, nd: int = 3) -> float | None:
    return None if x is None else round(float(x), nd)


def process_rss_gib() -> float | None:
    try:
        import psutil

        return _round(psutil.Process(os.getpid()).memory_info().rss / GIB)
    except Exception:  # psutil missing or the platform refuses
        return None


def host_memory() -> dict[str, float | None]:
    try:
        import psutil

        vm = psutil.virtual_memory()
        return {
            "ram_used_gib": _round((vm.total - vm.available) / GIB),
            "ram_total_gib": _round(vm.total / GIB),
            "cpu_percent": _round(psutil.cpu_percent(interval=None), 1),
        }
    except Exception:
        return {"ram_used_gib": None, "ram_total_gib": None, "cpu_percent": None}


def torch_memory() -> dict[str, Any]:
    """Allocated / reserved / peak memory of the torch CUDA allocator (empty without CUDA).

    torch is only consulted when this process already imported it: sampling must not pull a
    400 MB import into the web server.
    """
    torch = sys.modules.get("torch")
    if torch is None:
        return {}
    try:
        if not torch.cuda.is_available() or not torch.cuda.is_initialized():
            return {}
        dev = torch.cuda.current_device()
        return {
            "device": f"cuda:{dev}",
            "allocated_gib": _round(torch.cuda.memory_allocated(dev) / GIB),
            "reserved_gib": _round(torch.cuda.memory_reserved(dev) / GIB),
            "peak_gib": _round(torch.cuda.max_memory_allocated(dev) / GIB),
        }
    except Exception as err:  # a broken driver must not stop training
        log.debug("torch memory figures unavailable: %s", err)
        return {}


def _nvml() -> Any | None:
    with _nvml_lock:
        if not _nvml_state["tried"]:
            _nvml_state["tried"] = True
            try:
                import pynvml

                pynvml.nvmlInit()
                _nvml_state["ok"] = True
            except Exception as err:  # no library, no driver, no GPU
                log.debug("NVML unavailable: %s", err)
                _nvml_state["ok"] = False
        if not _nvml_state["ok"]:
            return None
    import pynvml

    return pynvml


def gpus() -> list[dict[str, Any]]:
    """One dict per GPU seen by NVML; an empty list when there is no GPU or driver."""
    nv = _nvml()
    if nv is None:
        return []
    out: list[dict[str, Any]] = []
    try:
        count = nv.nvmlDeviceGetCount()
    except Exception:
        return []
    for i in range(count):
        g: dict[str, Any] = {"index": i}
        try:
            h = nv.nvmlDeviceGetHandleByIndex(i)
        except Exception:
            continue
        probes: list[tuple[str, Any]] = [
            ("name", lambda h=h: _text(nv.nvmlDeviceGetName(h))),
            ("util_percent", lambda h=h: float(nv.nvmlDeviceGetUtilizationRates(h).gpu)),
            ("mem_used_gib", lambda h=h: _round(nv.nvmlDeviceGetMemoryInfo(h).used / GIB)),
            ("mem_total_gib", lambda h=h: _round(nv.nvmlDeviceGetMemoryInfo(h).total / GIB)),
            (
                "temperature_c",
                lambda h=h: float(nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU)),
            ),
            ("power_w", lambda h=h: _round(nv.nvmlDeviceGetPowerUsage(h) / 1000.0, 1)),
            (
                "power_limit_w",
                lambda h=h: _round(nv.nvmlDeviceGetEnforcedPowerLimit(h) / 1000.0, 1),
            ),
        ]
        for key, fn in probes:
            try:
                g[key] = fn()
            except Exception:  # a field this GPU or driver does not report
                g[key] = None
        out.append(g)
    return out


def _text(x: Any) -> str:
    return x.decode() if isinstance(x, bytes) else str(x)


def disk_free_gib(ws: Workspace) -> float | None:
    path = ws.home
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        return _round(shutil.disk_usage(path).free / GIB)
    except OSError:
        return None


def sample(ws: Workspace) -> dict[str, Any]:
    """One sample of every system figure (keys stable; missing sources give None / {} / [])."""
    out: dict[str, Any] = {"rss_gib": process_rss_gib()}
    out.update(host_memory())
    out["torch"] = torch_memory()
    out["gpus"] = gpus()
    out["disk_free_gib"] = disk_free_gib(ws)
    return out


def metrics_fields(ws: Workspace) -> dict[str, Any]:
    """The flat subset training adds to each ``metrics.jsonl`` record (``sys_`` prefixed)."""
    s = sample(ws)
    rec: dict[str, Any] = {
        "sys_rss_gib": s["rss_gib"],
        "sys_ram_used_gib": s["ram_used_gib"],
        "sys_disk_free_gib": s["disk_free_gib"],
    }
    t = s["torch"]
    if t:
        rec["sys_cuda_allocated_gib"] = t["allocated_gib"]
        rec["sys_cuda_reserved_gib"] = t["reserved_gib"]
        rec["sys_cuda_peak_gib"] = t["peak_gib"]
    if s["gpus"]:
        g = s["gpus"][0]
        rec["sys_gpu_util_percent"] = g.get("util_percent")
        rec["sys_gpu_mem_used_gib"] = g.get("mem_used_gib")
        rec["sys_gpu_temperature_c"] = max(
            (x["temperature_c"] for x in s["gpus"] if x.get("temperature_c") is not None),
            default=None,
        )
        rec["sys_gpu_power_w"] = g.get("power_w")
    return rec
