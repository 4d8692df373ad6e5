"""Dense peak TFLOP/s per device and precision, for MFU, from the vendors' datasheets.

Dense means without structured sparsity (datasheets print both; the sparse figure is
twice the dense one). fp32 is plain FP32 (matrix cores where the vendor has FP32 matrix
math, as AMD's CDNA): torch does not use TF32 for fp32 matmuls unless told to. A row
matches torch's device name (torch.cuda.get_device_name); the first match wins, so the
more specific names come first. MI250X and MI250 are two GCDs per package and torch sees
each GCD as a device: their rows are half the package's figure. A device without a row
(a CPU, a GPU not listed) gets no peak, so no MFU, rather than a wrong one; a hardware
profile may give its own (slurm/profile.py `peak_tflops`, exported to the ranks as
MEMSWEEP_PEAK_TFLOPS="bf16=989,fp32=67").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from suite.errors import UserInputError

PEAK_ENV = "MEMSWEEP_PEAK_TFLOPS"


@dataclass(frozen=True, kw_only=True)
class Peak:
    name: str  # the product, as its datasheet names it
    pattern: str  # regex searched in torch's device name
    tflops: dict  # precision -> dense TFLOP/s per device
    source: str


PEAKS: tuple[Peak, ...] = (
    Peak(name="NVIDIA H100 NVL", pattern=r"H100 NVL", tflops={"bf16": 835.5, "fp16": 835.5,
         "fp32": 60.0}, source="NVIDIA H100 Tensor Core GPU datasheet (2023)"),
    Peak(name="NVIDIA H100 PCIe", pattern=r"H100 PCIe", tflops={"bf16": 756.5, "fp16": 756.5,
         "fp32": 51.2}, source="NVIDIA H100 Tensor Core GPU datasheet (2023)"),
    Peak(name="NVIDIA H100 SXM5", pattern=r"H100|GH200", tflops={"bf16": 989.4, "fp16": 989.4,
         "fp32": 66.9}, source="NVIDIA H100 Tensor Core GPU datasheet (2023)"),
    Peak(name="NVIDIA H200 NVL", pattern=r"H200 NVL", tflops={"bf16": 835.5, "fp16": 835.5,
         "fp32": 60.0}, source="NVIDIA H200 Tensor Core GPU datasheet (2024)"),
    Peak(name="NVIDIA H200 SXM", pattern=r"H200", tflops={"bf16": 989.4, "fp16": 989.4,
         "fp32": 66.9}, source="NVIDIA H200 Tensor Core GPU datasheet (2024)"),
    Peak(name="NVIDIA A100 (SXM4 and PCIe)", pattern=r"A100", tflops={"bf16": 312.0,
         "fp16": 312.0, "fp32": 19.5}, source="NVIDIA A100 Tensor Core GPU datasheet (2021)"),
    Peak(name="NVIDIA V100S PCIe", pattern=r"V100S", tflops={"fp16": 130.0, "fp32": 16.4},
         source="NVIDIA V100 Tensor Core GPU datasheet (2020)"),
    Peak(name="NVIDIA V100 PCIe", pattern=r"V100-PCIE", tflops={"fp16": 112.0, "fp32": 14.0},
         source="NVIDIA V100 Tensor Core GPU datasheet (2020)"),
    Peak(name="NVIDIA V100 SXM2", pattern=r"V100", tflops={"fp16": 125.0, "fp32": 15.7},
         source="NVIDIA V100 Tensor Core GPU datasheet (2020)"),
    Peak(name="AMD Instinct MI250X (one GCD)", pattern=r"MI250X", tflops={"bf16": 191.5,
         "fp16": 191.5, "fp32": 47.85}, source="AMD Instinct MI250X data sheet: 383 / 95.7 "
                                              "TFLOPS per 2-GCD package"),
    Peak(name="AMD Instinct MI250 (one GCD)", pattern=r"MI250", tflops={"bf16": 181.05,
         "fp16": 181.05, "fp32": 45.25}, source="AMD Instinct MI250 data sheet: 362.1 / 90.5 "
                                               "TFLOPS per 2-GCD package"),
    Peak(name="AMD Instinct MI300X", pattern=r"MI300X", tflops={"bf16": 1307.4, "fp16": 1307.4,
         "fp32": 163.4}, source="AMD Instinct MI300X data sheet (2023)"),
    Peak(name="AMD Instinct MI325X", pattern=r"MI325X", tflops={"bf16": 1307.4, "fp16": 1307.4,
         "fp32": 163.4}, source="AMD Instinct MI325X data sheet (2024)"),
    Peak(name="AMD Instinct MI300A", pattern=r"MI300A", tflops={"bf16": 980.6, "fp16": 980.6,
         "fp32": 122.6}, source="AMD Instinct MI300A data sheet (2023)"),
)


def peak_tflops(device_name: str | None, precision: str,
                override: dict | None = None) -> tuple[float | None, str | None]:
    """(dense peak TFLOP/s, where it comes from) for one device; (None, None) if unknown."""
    if override and precision in override:
        return float(override[precision]), "profile"
    if not device_name:
        return None, None
    for peak in PEAKS:
        if re.search(peak.pattern, device_name, re.IGNORECASE):
            value = peak.tflops.get(precision)
            return (value, f"{peak.name}: {peak.source}") if value else (None, None)
    return None, None


def parse_override(text: str | None) -> dict:
    """MEMSWEEP_PEAK_TFLOPS ("bf16=989,fp32=67") as {precision: TFLOP/s}."""
    if not text:
        return {}
    out = {}
    for item in text.split(","):
        key, _, value = item.partition("=")
        try:
            out[key.strip()] = float(value)
        except ValueError:
            raise UserInputError(f"{item!r} is not precision=TFLOPs", key=PEAK_ENV,
                                 fix='write e.g. MEMSWEEP_PEAK_TFLOPS="bf16=989,fp32=67"'
                                 ) from None
        if out[key.strip()] <= 0:
            raise UserInputError(f"{item!r}: a peak must be positive", key=PEAK_ENV)
    return out
