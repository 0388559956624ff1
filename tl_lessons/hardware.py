"""Where training runs and how it uses this computer: the device, CPU threads, memory, bfloat16, channels-last.

`fit` asks these questions once at the start of a run; the answers change how fast it trains,
never what it learns (bfloat16 aside, which rounds the forward pass: `use_bf16`). The figures
behind each choice, with the machine and command that measured them, are in `docs/performance.md`.

    >>> device = torch.device(pick_device())     # where `fit` puts the model and each batch
    >>> cpu_threads() >= 1                       # what `fit` hands to torch.set_num_threads
    True
"""
import functools
import os

import torch

from tl_lessons.errors import ConfigError

THREADS_VARIABLE = "TL_LESSONS_THREADS"


def pick_device() -> str:
    """The fastest device this machine has: "cuda", then "mps" (Apple), else "cpu".

    >>> pick_device() in ("cuda", "mps", "cpu")    # 'cpu' on a laptop without a GPU
    True
    """
    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def thread_setting() -> int | None:
    """The CPU threads a teacher asked for in `$TL_LESSONS_THREADS`, or None when it is not set.

    The one reader of that variable: the chapters, the command line and the dashboard all ask
    here. A value that is not a whole number of at least 1 raises `ConfigError`, saying what to do.

    >>> from unittest import mock
    >>> with mock.patch.dict(os.environ, {"TL_LESSONS_THREADS": "1"}):     # 1 on a busy machine
    ...     thread_setting()
    1
    >>> with mock.patch.dict(os.environ, {"TL_LESSONS_THREADS": "two"}):
    ...     thread_setting()
    Traceback (most recent call last):
    ...
    tl_lessons.errors.ConfigError: TL_LESSONS_THREADS must be a whole number of at least 1 (1 on a busy machine), ...
    """
    value = os.environ.get(THREADS_VARIABLE, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(f"{THREADS_VARIABLE} must be a whole number of at least 1 (1 on a busy machine), "
                          f"not {value!r}: change it or unset it.")
    return int(value)


def cpu_threads() -> int:
    """Threads for CPU training: `$TL_LESSONS_THREADS` (`thread_setting`), else the number of cores.

    >>> from unittest import mock
    >>> with mock.patch.dict(os.environ, {"TL_LESSONS_THREADS": "1"}):
    ...     cpu_threads()              # `fit` then calls torch.set_num_threads(1)
    1
    """
    return thread_setting() or os.cpu_count() or 1


# glibc's mallopt settings (malloc.h): how large a block must be to get its own mapping, how many
# such mappings there may be, and how much free memory at the top of the heap is handed back.
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4


@functools.cache  # once per process: the settings stay until it ends
def keep_freed_memory() -> bool:
    """Ask the C library to keep the memory a training step frees for the next step (Linux, glibc).

    Every step allocates the same activations and gradients and frees them at its end. By
    default glibc gives each block of 32 MiB or more its own mapping from the operating system
    and returns it on free, and hands back free memory at the top of its heap; the next step
    asks for all of it again, and the kernel supplies it as fresh zeroed pages, one page fault
    per 4 KiB. FastNet's first activations at batch 512 are exactly 32 MiB (512 x 16 x 32 x 32
    floats), so that happened on every step. Kept, the page faults are gone and steps are faster
    (`docs/performance.md`), with the same results to the bit: only where the numbers live
    changes. The price: the process keeps its largest footprint until it ends, instead of
    shrinking after a run.

    `fit` calls it, so every run in the process benefits. It does nothing (and returns False)
    where the C library is not glibc (macOS, Windows, Alpine's musl); True once it is set.

    >>> keep_freed_memory()         # on Linux with glibc
    True
    """
    try:
        import ctypes
        mallopt = ctypes.CDLL(None).mallopt  # the C library the process already uses
    except (OSError, AttributeError, TypeError):  # no C library by that route, or no mallopt in it
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    # No block gets its own mapping; free memory at the heap's top is kept (up to 2 GiB, the most
    # the setting takes).
    return mallopt(_M_MMAP_MAX, 0) == 1 and mallopt(_M_TRIM_THRESHOLD, 2**31 - 1) == 1


def use_bf16(config, device: torch.device) -> bool:
    """Whether the forward pass runs in bfloat16 (autocast) for a `TrainConfig`; the weights stay float32.

    bfloat16 halves the bytes per number and runs on dedicated units where the hardware has
    them: recent NVIDIA GPUs, and CPUs with AVX-512 BF16 or AMX instructions, where FastNet
    trains about twice as fast with it (`docs/performance.md`). CPUs without those instructions
    emulate bfloat16 and get slower, so "auto" checks for them.

    >>> from tl_lessons.train import TrainConfig
    >>> use_bf16(TrainConfig(bf16=False), torch.device("cpu"))   # asked for float32; "auto" (the default) checks the CPU
    False
    """
    if config.bf16 != "auto":
        return bool(config.bf16)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        native = [getattr(torch.cpu, name, lambda: False) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
        return any(check() for check in native)
    return False


def use_channels_last(config, device: torch.device) -> bool:
    """Whether images and weights use the channels-last (NHWC) layout, for a `TrainConfig`.

    Convolution libraries on CPUs (oneDNN) and NVIDIA GPUs run faster on it, so "auto" turns it
    on there.

    >>> from tl_lessons.train import PRESETS
    >>> use_channels_last(PRESETS["quick"], torch.device("cpu")), use_channels_last(PRESETS["quick"], torch.device("mps"))
    (True, False)
    """
    if config.channels_last != "auto":
        return bool(config.channels_last)
    return device.type in ("cpu", "cuda")


def memory_to_spare(device: torch.device) -> int | None:
    """Bytes free now on `device`: the GPU's memory, or the computer's (None: unknown).

    >>> memory_to_spare(torch.device("cpu")) > 0
    True
    """
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free
    try:
        with open("/proc/meminfo") as meminfo:  # Linux: what can be had without swapping
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")  # other Unixes: free pages
    except (AttributeError, OSError, ValueError):  # Windows, macOS: unknown, so only the kit's limit applies
        return None
