"""available_cpus: affinity capped by a cgroup quota."""

from __future__ import annotations

import os

from bytepatch.cpus import available_cpus, cgroup_cpu_quota


def test_cgroup_v2_quota(tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cgroup_cpu_quota(tmp_path) == 1.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_quota(tmp_path) is None


def test_cgroup_v1_quota(tmp_path):
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("300000")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000")
    assert cgroup_cpu_quota(tmp_path) == 3.0
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1")
    assert cgroup_cpu_quota(tmp_path) is None


def test_no_cgroup_files_means_no_quota(tmp_path):
    assert cgroup_cpu_quota(tmp_path) is None


def test_available_cpus_follows_affinity_and_quota(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    monkeypatch.setattr("bytepatch.cpus.cgroup_cpu_quota", lambda: None)
    assert available_cpus() == 4
    monkeypatch.setattr("bytepatch.cpus.cgroup_cpu_quota", lambda: 2.5)
    assert available_cpus() == 2
    monkeypatch.setattr("bytepatch.cpus.cgroup_cpu_quota", lambda: 0.2)
    assert available_cpus() == 1
