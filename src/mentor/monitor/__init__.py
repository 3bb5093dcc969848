"""Monitoring: the status snapshot, system figures (memory, GPU through NVML, disk) and alerts.

A low layer beside ``data``: it imports only ``config``, ``errors``, ``paths`` and ``store``, so
training, the daemon and the dashboard can all use it.
"""
