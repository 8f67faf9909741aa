"""Hypervisor access (libvirt) behind a small wrapper."""

from __future__ import annotations

from agents.virt.libvirt import Guest, Hypervisor

__all__ = ["Guest", "Hypervisor"]
