"""Torch code of the model transforms: pruned blocks, quantized linears (ranks reach it through
suite/torch_tools.py; tests import it directly).

Structured pruning keeps the most important attention heads and MLP neurons of
each block (L2 norm of the weights that read and write them) and copies them into
smaller layers. Quantization is weight-only and symmetric per output channel
(int8) or asymmetric per group of 32 inputs (int4, two weights a byte); it runs on
torch's own int8/int4 weight-only kernels where the device has them (the CPU) and
dequantizes one layer at a time elsewhere.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import prune

INT4_GROUP = 32


class PrunedBlock(nn.Module):
    """suite.gpt.Block with fewer heads (`heads` of width `head_dim`) and MLP neurons."""

    def __init__(self, d: int, heads: int, head_dim: int, ffn: int) -> None:
        super().__init__()
        self.n_head, self.head_dim, inner = heads, head_dim, heads * head_dim
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * inner), nn.Linear(inner, d)
        self.fc, self.out = nn.Linear(d, ffn), nn.Linear(ffn, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, S, D = x.shape
        inner = self.n_head * self.head_dim
        q, k, v = self.qkv(self.ln1(x)).split(inner, dim=2)
        q, k, v = (t.view(B, S, self.n_head, self.head_dim).transpose(1, 2) for t in (q, k, v))
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(a.transpose(1, 2).reshape(B, S, inner))
        return x + self.out(F.gelu(self.fc(self.ln2(x))))


@torch.no_grad()
def prune_block(block: nn.Module, sparsity: float) -> PrunedBlock:
    """The block with round(sparsity x) of its heads and of its MLP neurons removed."""
    d, h = block.qkv.in_features, block.n_head
    hd = d // h
    heads = max(1, round(h * (1 - sparsity)))
    ffn_in = block.fc.out_features
    ffn = max(1, round(ffn_in * (1 - sparsity)))
    w = block.qkv.weight.view(3, h, hd, d)
    score = w.pow(2).sum(dim=(0, 2, 3)) + block.proj.weight.view(d, h, hd).pow(2).sum(dim=(0, 2))
    keep_h = score.topk(heads).indices.sort().values
    score = block.fc.weight.pow(2).sum(1) + block.out.weight.pow(2).sum(0)
    keep_f = score.topk(ffn).indices.sort().values
    new = PrunedBlock(d, heads, hd, ffn).to(block.qkv.weight.device, block.qkv.weight.dtype)
    new.ln1.load_state_dict(block.ln1.state_dict())
    new.ln2.load_state_dict(block.ln2.state_dict())
    new.qkv.weight.copy_(w[:, keep_h].reshape(3 * heads * hd, d))
    new.qkv.bias.copy_(block.qkv.bias.view(3, h, hd)[:, keep_h].reshape(-1))
    new.proj.weight.copy_(block.proj.weight.view(d, h, hd)[:, keep_h].reshape(d, heads * hd))
    new.proj.bias.copy_(block.proj.bias)
    new.fc.weight.copy_(block.fc.weight[keep_f])
    new.fc.bias.copy_(block.fc.bias[keep_f])
    new.out.weight.copy_(block.out.weight[:, keep_f])
    new.out.bias.copy_(block.out.bias)
    return new


def prune_structured(model: nn.Module, sparsity: float) -> nn.Module:
    for i, block in enumerate(model.blocks):
        model.blocks[i] = prune_block(block, sparsity)
    return model


def prune_unstructured(model: nn.Module, sparsity: float) -> nn.Module:
    """Magnitude (L1) pruning of every block's linear weights: a dense weight and a mask."""
    for block in model.blocks:
        for module in block.modules():
            if isinstance(module, nn.Linear):
                prune.l1_unstructured(module, "weight", amount=sparsity)
    return model


class QuantLinear(nn.Module):
    """A frozen nn.Linear whose weight is held in int8 or int4; activations in `dtype`.

    `kernel`: multiply with torch's CPU weight-only kernels (default: on the CPU); else
    dequantize the layer's weight when it runs (GPUs; tests run that path on the CPU too).
    """

    def __init__(self, linear: nn.Linear, bits: int, dtype: torch.dtype,
                 kernel: bool | None = None) -> None:
        super().__init__()
        self.bits, self.out_features = bits, linear.out_features
        self.kernel = linear.weight.device.type == "cpu" if kernel is None else kernel
        w = linear.weight.detach().float()
        frozen = {"requires_grad": False}
        if bits == 8:
            scale = w.abs().amax(dim=1).clamp(min=1e-8) / 127
            self.weight = nn.Parameter(torch.round(w / scale[:, None]).clamp(-127, 127)
                                       .to(torch.int8), **frozen)
            self.scale = nn.Parameter(scale.to(dtype), **frozen)
        else:
            n, k = w.shape
            g = w.view(n, k // INT4_GROUP, INT4_GROUP)
            lo, hi = g.amin(-1, keepdim=True), g.amax(-1, keepdim=True)
            scale = ((hi - lo) / 15).clamp(min=1e-8)
            q = torch.round((g - lo) / scale).clamp(0, 15).view(n, k).to(torch.int32)
            # tinygemm's convention: w = (q - 8) * scale + zero, per group, [k/group, n, 2]
            sz = torch.stack([scale.squeeze(-1), (lo + 8 * scale).squeeze(-1)], -1)
            self.scales_and_zeros = nn.Parameter(sz.transpose(0, 1).contiguous().to(dtype),
                                                 **frozen)
            if self.kernel:  # torch's CPU int4 kernel layout: uint8 [n, k / 2]
                packed = torch._convert_weight_to_int4pack_for_cpu(q, 1)
            else:  # two nibbles a byte, unpacked in forward
                packed = (q[:, ::2] << 4 | q[:, 1::2]).to(torch.uint8)
            self.weight = nn.Parameter(packed, **frozen)
        self.bias = None if linear.bias is None else nn.Parameter(
            linear.bias.detach().to(dtype), **frozen)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, x.shape[-1])
        if self.kernel:
            if self.bits == 8:
                y = torch._weight_int8pack_mm(flat, self.weight, self.scale)
            else:
                y = torch._weight_int4pack_mm_for_cpu(flat, self.weight, INT4_GROUP,
                                                      self.scales_and_zeros)
        else:
            y = flat @ self._dequantized(flat.dtype).t()
        y = y.view(*x.shape[:-1], self.out_features)
        return y if self.bias is None else y + self.bias

    def _dequantized(self, dtype: torch.dtype) -> torch.Tensor:
        if self.bits == 8:
            return self.weight.to(dtype) * self.scale[:, None].to(dtype)
        hi, lo = (self.weight >> 4).to(dtype), (self.weight & 15).to(dtype)
        q = torch.stack([hi, lo], -1).view(self.out_features, -1)
        n, k = q.shape
        sz = self.scales_and_zeros.to(dtype).transpose(0, 1)  # [n, k/group, 2]
        g = q.view(n, k // INT4_GROUP, INT4_GROUP)
        return ((g - 8) * sz[..., :1] + sz[..., 1:]).view(n, k)


def quantize(model: nn.Module, bits: int, dtype: torch.dtype) -> nn.Module:
    """Every block's linear layers to QuantLinear; the rest of the model in `dtype`."""
    model.to(dtype)
    for block in model.blocks:
        for name, child in list(block.named_children()):
            if isinstance(child, nn.Linear):
                setattr(block, name, QuantLinear(child, bits, dtype))
    return model.requires_grad_(False)
