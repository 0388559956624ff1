"""Where training runs and how: the threads a teacher sets, memory kept between steps, bf16 and channels-last."""

import os
import platform

import pytest
import torch

from tl_lessons import hardware
from tl_lessons.errors import ConfigError
from tl_lessons.train import TrainConfig


def test_the_thread_setting_is_read_in_one_place(monkeypatch):
    monkeypatch.delenv("TL_LESSONS_THREADS", raising=False)
    assert hardware.thread_setting() is None
    assert hardware.cpu_threads() == (os.cpu_count() or 1)
    monkeypatch.setenv("TL_LESSONS_THREADS", " 3 ")
    assert hardware.thread_setting() == 3 and hardware.cpu_threads() == 3
    monkeypatch.setenv("TL_LESSONS_THREADS", "")
    assert hardware.thread_setting() is None


@pytest.mark.parametrize("value", ["many", "0", "-2", "1.5"])
def test_a_thread_setting_that_is_not_a_whole_number_says_what_to_do(monkeypatch, value):
    monkeypatch.setenv("TL_LESSONS_THREADS", value)
    with pytest.raises(ConfigError, match="TL_LESSONS_THREADS must be a whole number of at least 1"):
        hardware.cpu_threads()


def test_keeping_freed_memory_says_whether_it_could():
    assert hardware.keep_freed_memory() is (platform.libc_ver()[0] == "glibc")
    assert hardware.keep_freed_memory() is (platform.libc_ver()[0] == "glibc")  # a second call changes nothing


def test_explicit_settings_win_over_auto():
    cpu = torch.device("cpu")
    assert hardware.use_bf16(TrainConfig(bf16=False), cpu) is False
    assert hardware.use_bf16(TrainConfig(bf16=True), cpu) is True
    assert hardware.use_channels_last(TrainConfig(channels_last=False), cpu) is False
    assert hardware.use_channels_last(TrainConfig(), cpu) is True          # "auto" on a CPU
    assert hardware.use_channels_last(TrainConfig(), torch.device("mps")) is False
    assert hardware.pick_device() in ("cuda", "mps", "cpu")
    assert hardware.memory_to_spare(cpu) is None or hardware.memory_to_spare(cpu) > 0
