"""System sample: every figure optional, no exception without a GPU or NVML."""

from __future__ import annotations

import sys

from mentor.monitor import system


def test_sample_without_gpu(workspace, monkeypatch) -> None:
    monkeypatch.setitem(system._nvml_state, "tried", True)
    monkeypatch.setitem(system._nvml_state, "ok", False)  # as when the driver is absent
    s = system.sample(workspace)
    assert set(s) >= {"rss_gib", "ram_used_gib", "ram_total_gib", "torch", "gpus", "disk_free_gib"}
    assert s["gpus"] == []
    assert s["rss_gib"] and s["rss_gib"] > 0
    assert s["disk_free_gib"] and s["disk_free_gib"] > 0
    assert isinstance(s["torch"], dict)
    rec = system.metrics_fields(workspace)
    assert rec["sys_rss_gib"] > 0 and "sys_gpu_util_percent" not in rec


def test_nvml_failure_is_an_empty_list(monkeypatch) -> None:
    class Broken:
        def nvmlInit(self) -> None:
            raise RuntimeError("NVML Shared Library Not Found")

    monkeypatch.setitem(sys.modules, "pynvml", Broken())
    monkeypatch.setitem(system._nvml_state, "tried", False)
    monkeypatch.setitem(system._nvml_state, "ok", False)
    assert system.gpus() == []


def test_nvml_fields_and_missing_ones(monkeypatch) -> None:
    class Mem:
        used, total = 2 * 1024**3, 80 * 1024**3

    class Util:
        gpu = 57

    class Fake:
        NVML_TEMPERATURE_GPU = 0

        def nvmlInit(self) -> None: ...
        def nvmlDeviceGetCount(self) -> int:
            return 1

        def nvmlDeviceGetHandleByIndex(self, i: int) -> int:
            return i

        def nvmlDeviceGetName(self, h: int) -> bytes:
            return b"FakeGPU"

        def nvmlDeviceGetUtilizationRates(self, h: int) -> Util:
            return Util()

        def nvmlDeviceGetMemoryInfo(self, h: int) -> Mem:
            return Mem()

        def nvmlDeviceGetTemperature(self, h: int, kind: int) -> int:
            return 66

        def nvmlDeviceGetPowerUsage(self, h: int) -> int:
            raise RuntimeError("not supported")

        def nvmlDeviceGetEnforcedPowerLimit(self, h: int) -> int:
            return 700_000

    monkeypatch.setitem(sys.modules, "pynvml", Fake())
    monkeypatch.setitem(system._nvml_state, "tried", False)
    monkeypatch.setitem(system._nvml_state, "ok", False)
    (g,) = system.gpus()
    assert g["name"] == "FakeGPU" and g["util_percent"] == 57.0 and g["temperature_c"] == 66.0
    assert g["mem_used_gib"] == 2.0 and g["power_w"] is None and g["power_limit_w"] == 700.0
