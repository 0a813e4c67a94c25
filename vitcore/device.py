"""Pick the compute device. The choice is always returned, never stored globally."""

import torch


def resolve_device(requested: str = "auto") -> torch.device:
    """Return the device to use: "auto" prefers cuda, then mps, then cpu.

    Any explicit torch device string ("cpu", "cuda", "cuda:1", "mps") is
    honoured when that device is available, else a clear ValueError is raised.
    """
    if requested in (None, "", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps_backend = getattr(torch.backends, "mps", None)
        if mps_backend is not None and mps_backend.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {requested!r} was requested but no CUDA GPU is available")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"device {requested!r} was requested but Apple MPS is not available")
    return device


def describe_device(device: torch.device) -> str:
    """A short human description, e.g. "NVIDIA H100 (cuda)" or "CPU, 2 cores"."""
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (cuda)"
    if device.type == "mps":
        return "Apple GPU (mps)"
    import os

    return f"CPU, {os.cpu_count()} cores"


def has_native_bf16(device: torch.device) -> bool:
    """Whether bfloat16 maths runs natively on `device`: a CUDA GPU that supports it, or a CPU with AVX512-BF16
    or AMX instructions (recent AMD EPYC/Ryzen, Intel Xeon). Elsewhere bf16 is emulated and slower than float32."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    cpu = torch.cpu  # the two checks are private helpers of torch.cpu; an older torch without them counts as "no"
    return any(getattr(cpu, check, lambda: False)() for check in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))
